"""The VQ-VAE, `objective="vq_vae"` (van den Oord et al., 2017), with a learned prior.

The encoder's outputs are replaced by their nearest codebook vectors
(`keras_ae.quantization.VectorQuantizer`), so an example's code is a grid
of integer indices; a PixelCNN over those indices
(`keras_ae.priors.PixelCNNPrior`), trained after the autoencoder, makes the
model generative: `sample` draws indices from the prior and decodes them.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ae.checks import check_positive_int
from keras_ae.checks import check_seed
from keras_ae.objectives.ae import AutoEncoder
from keras_ae.objectives.ae import code_head
from keras_ae.objectives.ae import reduce_per_example
from keras_ae.priors import PixelCNNPrior
from keras_ae.quantization import VectorQuantizer
from keras_ae.registry import register_objective

__all__ = ["VQVAE"]

# The size of each code vector of a vector code when `embedding_dim=None`.
DEFAULT_EMBEDDING_DIM = 16
# Adam's learning rate of the prior (`fit_prior`).
PRIOR_LEARNING_RATE = 1e-3


def _embedding_dim(latent_dim, embedding_dim):
    """The size of a code vector: a map's channels, or the option (default 16)."""
    if isinstance(latent_dim, tuple):
        if embedding_dim is not None and embedding_dim != latent_dim[-1]:
            raise ValueError(
                "A feature-map code's vectors are its channels: `embedding_dim` "
                f"must be None or latent_dim[-1] = {latent_dim[-1]}. Received: "
                f"embedding_dim={embedding_dim!r} with latent_dim={latent_dim}")
        return latent_dim[-1]
    if embedding_dim is None:
        return DEFAULT_EMBEDDING_DIM
    return check_positive_int("embedding_dim", embedding_dim)


@register_objective("vq_vae", map_codes=True)
@keras.saving.register_keras_serializable(package="keras_ae")
class VQVAE(AutoEncoder):
    """A vector-quantized autoencoder with a PixelCNN prior over its indices.

    The encoder outputs vectors of size `embedding_dim`: a feature map
    `(height, width, embedding_dim)` (the conv family with
    `latent_dim=(h, w, d)`, the keras.io example's layout), or, on any
    family, `L` vectors `(L, embedding_dim)` for `latent_dim=L` (the head
    outputs `L * embedding_dim` values, reshaped). Each vector is replaced
    by its nearest codebook vector; the decoder reconstructs from them
    (straight-through gradients in training). An example's code is then a
    grid of integer indices, `(h, w)` or `(L,)`.

    Training minimizes `reconstruction_loss + codebook_loss +
    commitment_loss` (the codebook loss is zero with `ema=True`, where
    moving averages move the codebook), and logs the batch's
    `codebook_perplexity` (`exp` of the entropy of the codes' frequencies,
    `num_embeddings` at best) and `codebook_usage` (the share of the
    codebook the batch uses); those two are figures, not terms of the
    loss. After each gradient step the quantizer updates its running usage,
    its EMA codebook and restarts its dead codes (`train_update`).

    The prior, a `PixelCNNPrior` over the `(h, w)` grid (or `(1, L)` for a
    vector code), is part of the model: it is saved in the `.keras` file
    and left out of the autoencoder's gradient step. `fit_prior(x)` trains
    it on the indices of `x` (the main job calls it through
    `finish_training`); `sample(n)` then decodes grids drawn from it.

    Args:
        encoder: `keras.Model` mapping inputs to vectors of shape
            `(height, width, embedding_dim)` or `(length, embedding_dim)`.
        decoder: `keras.Model` mapping the quantized vectors to outputs of
            the input's shape; for a `(length, embedding_dim)` code it takes
            them flattened, `(length * embedding_dim,)`.
        reconstruction_loss: `"mse"` or `"bce"`, summed over features.
        num_embeddings: int >= 2, the number of codebook vectors.
        embedding_dim: int > 0 or `None`, the size of each code vector of a
            vector code (`None`: 16); a feature-map code's is its channels.
        commitment_cost: float >= 0, weight of the commitment loss (beta of
            the paper, 0.25 there).
        ema: bool, learn the codebook by exponential moving averages
            instead of by gradient.
        decay: float in (0, 1), decay of the moving averages.
        restart_unused: bool, restart the codes that fell out of use with
            encoder outputs of the current batch.
        restart_threshold: float in (0, 1), a code is dead below this share
            of its fair share of the assignments.
        prior_filters: int > 0, channels of the PixelCNN prior.
        prior_layers: int >= 0, masked residual blocks of the prior.
        prior_epochs: int > 0, epochs of `finish_training`'s prior training.
            The defaults (64 filters, 4 blocks, 30 epochs) were chosen on
            the embedded digits: a smaller prior generated clearly worse
            digits, a larger one little better at twice the time.
        seed: int or `None`, seed of the codebook, its restarts and the
            prior's sampling.
        **kwargs: Base model keyword arguments, such as `name`.

    Call arguments:
        inputs: Tensor of shape `(batch_size, *input_shape)`.
        training: Python bool; `True` quantizes with straight-through
            gradients.

    Example:

    >>> vq = keras_ae.build_autoencoder(
    ...     "conv", (28, 28, 1), latent_dim=(7, 7, 16), objective="vq_vae",
    ...     num_embeddings=64, reconstruction_loss="bce")
    >>> vq.compile(optimizer="adam")
    >>> history = vq.fit(x_train, epochs=10)
    >>> history = vq.fit_prior(x_train, epochs=10)
    >>> indices = vq.encode_indices(x_val[:4])    # int32, shape (4, 7, 7)
    >>> digits = vq.sample(16, seed=0)            # shape (16, 28, 28, 1)
    """

    loss_terms = ("reconstruction_loss", "codebook_loss", "commitment_loss",
                  "codebook_perplexity", "codebook_usage")

    def __init__(self, encoder, decoder, reconstruction_loss="mse",
                 num_embeddings=64, embedding_dim=None, commitment_cost=0.25,
                 ema=False, decay=0.99, restart_unused=True,
                 restart_threshold=0.1, prior_filters=64, prior_layers=4,
                 prior_epochs=30, seed=None, **kwargs):
        code_shape = tuple(int(d) for d in encoder.output.shape[1:])
        if len(code_shape) not in (2, 3):
            raise ValueError(
                f"`encoder` of a {type(self).__name__} must output vectors "
                "of shape (height, width, embedding_dim) or (length, "
                f"embedding_dim). Received: outputs of shape {code_shape}")
        if embedding_dim is not None and embedding_dim != code_shape[-1]:
            raise ValueError(
                "`embedding_dim` must be None or the size of the encoder's "
                f"output vectors, {code_shape[-1]}. Received: "
                f"embedding_dim={embedding_dim!r}")
        super().__init__(encoder, decoder, reconstruction_loss, **kwargs)
        # === Config ===
        self.embedding_dim = embedding_dim
        self.prior_epochs = check_positive_int("prior_epochs", prior_epochs)
        self.seed = check_seed("seed", seed)
        self.index_shape = self.code_shape[:-1]
        # === Layers ===
        self.quantizer = VectorQuantizer(
            num_embeddings, self.code_shape[-1], commitment_cost=commitment_cost,
            ema=ema, decay=decay, restart_unused=restart_unused,
            restart_threshold=restart_threshold, seed=self.seed,
            name="quantizer")
        grid = self.index_shape if len(self.index_shape) == 2 else (
            1, self.index_shape[0])
        self.prior = PixelCNNPrior(
            self.quantizer.num_embeddings, grid, filters=prior_filters,
            num_layers=prior_layers, seed=self.seed, name="prior")
        # Trained by `fit_prior` only, never by the autoencoder's steps.
        self.prior.trainable = False

    @property
    def num_embeddings(self):
        return self.quantizer.num_embeddings

    def code_shape_of(self, encoder, decoder):
        return tuple(int(d) for d in encoder.output.shape[1:])

    @classmethod
    def build_encoder(cls, backbone, spec):
        depth = _embedding_dim(spec.latent_dim, spec.objective_options[
            "embedding_dim"])
        if len(spec.code_shape) == 3:
            z = code_head(backbone.output, spec, "z_e")
        else:
            z = keras.layers.Dense(spec.latent_dim * depth, name="z_e")(
                backbone.output)
            z = keras.layers.Reshape((spec.latent_dim, depth),
                                     name="z_e_vectors")(z)
        return keras.Model(backbone.input, z, name=f"{spec.family}_encoder")

    @classmethod
    def decoder_code_shape(cls, spec):
        depth = _embedding_dim(spec.latent_dim, spec.objective_options[
            "embedding_dim"])
        if len(spec.code_shape) == 3:
            return spec.code_shape
        return (spec.latent_dim * depth,)

    # --- Forward pass -------------------------------------------------------

    def _decode_vectors(self, quantized, training=False):
        if len(self.code_shape) == 2:
            quantized = ops.reshape(quantized, (-1, self.latent_dim))
        return self.decoder(quantized, training=training)

    def call(self, inputs, training=False):
        self.check_inputs(inputs)
        z = self.encoder(inputs, training=training)
        if training:
            quantized = self.quantizer(z)
        else:
            quantized = self.quantizer.lookup(self.quantizer.indices(z))
        return self._decode_vectors(quantized, training=training)

    def _forward(self, x, y, sample_weight, training):
        self.check_inputs(x)
        z = self.encoder(x, training=training)
        vq = self.quantizer.quantize_with_losses(z)
        reconstruction = self._decode_vectors(vq["quantized"], training=training)
        terms = {
            "reconstruction_loss": self.reconstruction_term(
                y, reconstruction, sample_weight),
            "codebook_loss": reduce_per_example(vq["codebook_loss"],
                                                sample_weight),
            "commitment_loss": reduce_per_example(vq["commitment_loss"],
                                                  sample_weight),
            "codebook_perplexity": self.quantizer.perplexity(vq["indices"]),
            "codebook_usage": self.quantizer.usage(vq["indices"]),
        }
        return terms, z, vq["indices"]

    def compute_terms(self, x, y, sample_weight=None, training=False):
        """Returns the loss terms and codebook figures of a batch.

        `reconstruction_loss`, `codebook_loss` and `commitment_loss` (per
        example, summed over features and positions, reduced over the
        batch), `codebook_perplexity` and `codebook_usage` of the batch's
        indices.
        """
        return self._forward(x, y, sample_weight, training)[0]

    def total_loss(self, terms):
        return (terms["reconstruction_loss"] + terms["codebook_loss"]
                + terms["commitment_loss"])

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None:
            y = x
        with tf.GradientTape() as tape:
            terms, z, indices = self._forward(x, y, sample_weight, training=True)
            loss = self.training_loss(terms)
            # Under tf.distribute each replica's gradients are summed.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled_loss = self.optimizer.scale_loss(loss / replicas)
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        # Usage, EMA codebook and restarts: after the step, outside the tape.
        self.quantizer.train_update(z, indices)
        return self._update_trackers(self.total_loss(terms), terms, x)

    # --- The verbs ----------------------------------------------------------------

    def _code(self, encoder_outputs):
        return self.quantizer.lookup(self.quantizer.indices(encoder_outputs))

    def encode(self, x, batch_size=256):
        """Returns the quantized codes of `x`, `(num_examples, *code_shape)`.

        Each vector is the codebook vector of its index
        (`encode_indices`); `decode(encode(x))` is `reconstruct(x)`.
        """
        return super().encode(x, batch_size)

    def encode_indices(self, x, batch_size=256):
        """Returns the codebook indices of `x`, int32 `(num_examples, *index_shape)`."""
        indices = self._batched(
            lambda b: self.quantizer.indices(self.encoder(b, training=False)),
            x, batch_size, check=True, output_shape=self.index_shape)
        return indices.astype("int32")

    def _decode_codes(self, z):
        return self._decode_vectors(z)

    def check_indices(self, indices, name="indices"):
        """Returns `indices` as int32 `(n, *index_shape)` if they are valid codes."""
        array = self.quantizer.check_indices(indices, name)
        if array.ndim != len(self.index_shape) + 1 or (
                array.shape[1:] != self.index_shape):
            raise ValueError(
                f"`{name}` must have shape (num_codes, "
                f"{', '.join(map(str, self.index_shape))}). Received: {name} "
                f"with shape {array.shape}")
        return array

    def decode_indices(self, indices, batch_size=256):
        """Decodes grids of codebook indices, `(n, *index_shape)`, to outputs.

        Indices outside `[0, num_embeddings)` are refused.
        """
        indices = self.check_indices(indices)
        batch_size = check_positive_int("batch_size", batch_size)
        outputs = [
            keras.ops.convert_to_numpy(self._decode_vectors(
                self.quantizer.lookup(ops.convert_to_tensor(
                    indices[i:i + batch_size]))))
            for i in range(0, len(indices), batch_size)
        ]
        if not outputs:
            return np.zeros((0, *self.input_shape_), dtype="float32")
        return np.concatenate(outputs, axis=0)

    def _grids(self, indices):
        return indices.reshape((len(indices), *self.prior.grid_shape))

    def fit_prior(self, x, epochs=None, batch_size=128, seed=0, verbose=0,
                  validation_data=None):
        """Trains the PixelCNN prior on the codebook indices of `x`.

        Args:
            x: inputs of the model's input shape (the training data).
            epochs: int > 0, or `None` for `prior_epochs`.
            batch_size: int > 0.
            seed: int, Keras' global seed (`keras.utils.set_random_seed`)
                set before the prior trains: its shuffles.
            verbose: Keras' `fit` verbosity.
            validation_data: inputs whose indices validate the prior, or
                `None`.

        Returns:
            The prior's `History`: `loss` is its negative log-likelihood per
            position, in nats.
        """
        epochs = self.prior_epochs if epochs is None else check_positive_int(
            "epochs", epochs)
        batch_size = check_positive_int("batch_size", batch_size)
        seed = check_seed("seed", seed)
        grids = self._grids(self.encode_indices(x))
        validation = None
        if validation_data is not None:
            validation = (self._grids(self.encode_indices(validation_data)),)
        keras.utils.set_random_seed(seed)
        self.prior.trainable = True
        try:
            self.prior.compile(
                optimizer=keras.optimizers.Adam(PRIOR_LEARNING_RATE))
            history = self.prior.fit(grids, epochs=epochs,
                                     batch_size=batch_size, verbose=verbose,
                                     validation_data=validation)
        finally:
            self.prior.trainable = False
        return history

    def finish_training(self, x, y=None, seed=0, verbose=0):
        """Trains the prior on the indices of `x` for `prior_epochs` epochs."""
        self.fit_prior(x, seed=seed, verbose=verbose)

    def prior_log_likelihood(self, x, batch_size=256):
        """Returns `log p(indices of x)` under the prior, in nats per example."""
        return self.prior.log_likelihood(self._grids(self.encode_indices(
            x, batch_size)), batch_size)

    def sample(self, num_samples, seed=None, temperature=1.0):
        """Draws index grids from the prior and decodes them.

        Args:
            num_samples: int > 0.
            seed: int or `None`. The same seed gives the same samples.
            temperature: float > 0, the prior's sampling temperature.

        Returns:
            NumPy array of shape `(num_samples, *input_shape)`.
        """
        grids = self.prior.sample(num_samples, seed=seed,
                                  temperature=temperature)
        return self.decode_indices(
            grids.reshape((num_samples, *self.index_shape)))

    # --- Serving ----------------------------------------------------------------

    def serving_signatures(self):
        """`serving_default`, `encode` (to `indices` and `quantized`) and `decode` (from `indices`)."""
        inputs = tf.TensorSpec((None, *self.input_shape_), tf.float32,
                               name="inputs")
        indices = tf.TensorSpec((None, *self.index_shape), tf.int32,
                                name="indices")

        def serving_default(inputs):
            return {"reconstruction": tf.cast(self(inputs, training=False),
                                              tf.float32)}

        def encode(inputs):
            found = self.quantizer.indices(self.encoder(inputs, training=False))
            return {"indices": tf.cast(found, tf.int32),
                    "quantized": tf.cast(self.quantizer.lookup(found),
                                         tf.float32)}

        def decode(indices):
            vectors = self.quantizer.lookup(indices)
            return {"reconstruction": tf.cast(self._decode_vectors(vectors),
                                              tf.float32)}

        return {"serving_default": (serving_default, [inputs]),
                "encode": (encode, [inputs]), "decode": (decode, [indices])}

    def encode_outputs(self, inputs):
        found = self.quantizer.indices(self.encoder(inputs, training=False))
        return {"indices": found, "quantized": self.quantizer.lookup(found)}

    def graph_config(self):
        vq = self.quantizer
        return {"num_embeddings": vq.num_embeddings,
                "embedding_dim": self.embedding_dim,
                "commitment_cost": vq.commitment_cost, "ema": vq.ema,
                "decay": vq.decay, "restart_unused": vq.restart_unused,
                "restart_threshold": vq.restart_threshold,
                "prior_filters": self.prior.filters,
                "prior_layers": self.prior.num_layers,
                "prior_epochs": self.prior_epochs, "seed": self.seed}
