"""What every task of the quality benchmark shares: data, the zoo's models, rows."""

import dataclasses
import os
import time

import numpy as np

MNIST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
TIME_FACTOR = 1.5  # a zoo model may train at most this much longer than its anchor

# The zoo's model of each task: `keras_ae.build_autoencoder` arguments.
ZOO = {
    "denoising": {"family": "conv", "latent_dim": (7, 7, 16)},
    "occlusion": {"family": "conv", "latent_dim": (7, 7, 16)},
    "classifier": {"family": "conv", "latent_dim": 16},
    "vae": {"family": "conv", "latent_dim": 16, "variational": True},
    "compression": {family: {"family": family, "latent_dim": 16}
                    for family in ("lstm", "transformer")},
}
# The zoo's training settings beyond the recipe's defaults, per task.
LEARNING_RATE = {"vae": 3e-3}


def find_mnist_files(directory):
    """Returns the (images, labels) paths of the MNIST test set, or None."""
    paths = []
    for name in MNIST_FILES:
        for candidate in (name, name + ".gz"):
            if os.path.isfile(os.path.join(directory, candidate)):
                paths.append(os.path.join(directory, candidate))
                break
    return tuple(paths) if len(paths) == 2 else None


@dataclasses.dataclass
class Context:
    """The data and settings every task shares."""

    x_train: np.ndarray
    y_train: np.ndarray
    held_out: dict  # name -> (x, y)
    epochs: int
    batch_size: int
    seed: int
    small: bool
    figures: str
    reference_classifier: object = None

    @classmethod
    def create(cls, args, figures):
        from keras_ae.data import load_digits
        from keras_ae.data import load_idx

        (x_train, y_train), (x_val, y_val) = load_digits(seed=args.seed)
        held_out = {"embedded_validation": (x_val, y_val)}
        if args.mnist_dir:
            held_out["mnist_test"] = load_idx(*find_mnist_files(args.mnist_dir))
        if args.small:
            x_train, y_train = x_train[:1000], y_train[:1000]
            held_out = {k: (x[:200], y[:200]) for k, (x, y) in held_out.items()}
        return cls(x_train, y_train, held_out, args.epochs, args.batch_size,
                   args.seed, args.small, figures)

    def classifier(self):
        """The reference digit classifier (trained once, on x_train)."""
        from keras_ae.evaluation import train_reference_classifier

        if self.reference_classifier is None:
            self.reference_classifier = train_reference_classifier(
                self.x_train, self.y_train, epochs=2 if self.small else 8,
                seed=self.seed)
        return self.reference_classifier

    def figure(self, name):
        return os.path.join(self.figures, f"{name}.png")


def row(task, metric, held_out, zoo, anchor, anchor_name, met, target,
        zoo_seconds=None, anchor_seconds=None):
    """One line of the side-by-side table."""
    ratio = (zoo_seconds / anchor_seconds
             if zoo_seconds and anchor_seconds else None)
    return {"task": task, "metric": metric, "held_out": held_out,
            "zoo": float(zoo), "anchor": None if anchor is None else float(anchor),
            "anchor_name": anchor_name, "target": target, "met": bool(met),
            "zoo_seconds": zoo_seconds, "anchor_seconds": anchor_seconds,
            "time_ratio": ratio,
            "time_met": None if ratio is None else bool(ratio <= TIME_FACTOR)}


def timed_fit(model, *args, **kwargs):
    """`model.fit(...)` and its wall time in seconds."""
    start = time.perf_counter()
    model.fit(*args, **kwargs)
    return time.perf_counter() - start


def build_zoo_model(context, spec, learning_rate=1e-3):
    """Builds and compiles a zoo model from its `build_autoencoder` arguments."""
    import keras

    import keras_ae

    keras.utils.set_random_seed(context.seed)
    model = keras_ae.build_autoencoder(
        input_shape=context.x_train.shape[1:], reconstruction_loss="bce",
        seed=context.seed, **spec)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return model


def fit_zoo_model(context, model, corruption=None, learning_rate=1e-3,
                  recipe=None):
    """Trains a zoo model with the training recipe; returns its wall time.

    The recipe here has no validation data (the held-out digits judge the
    model, so they must not choose its epoch): KL warm-up and the cosine
    learning-rate decay only.
    """
    from keras_ae.callbacks import training_recipe
    from keras_ae.data import make_dataset

    recipe = {"restore_best_weights": False, **(recipe or {})}
    return timed_fit(
        model, make_dataset(context.x_train, batch_size=context.batch_size,
                            seed=context.seed, corruption=corruption),
        epochs=context.epochs, shuffle=False, verbose=0,
        callbacks=training_recipe(context.epochs, learning_rate, **recipe))
