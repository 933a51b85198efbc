"""The PixelCNN prior over grids of code indices.

The prior must be causal in raster order (checked by perturbing indices),
learn a strongly structured distribution of grids and sample it back,
sample reproducibly, and save and load alone or inside another model.
"""

import math

import keras
import numpy as np
import pytest

from keras_ae import priors
from keras_ae.priors import MaskedConv2D
from keras_ae.priors import PixelCNNPrior
from keras_ae.priors import causal_mask

NUM_CODES = 8


def _small_prior(grid_shape=(4, 4), **kwargs):
    arguments = {"filters": 16, "num_layers": 2, "kernel_size": 3, "seed": 0}
    return PixelCNNPrior(NUM_CODES, grid_shape, **{**arguments, **kwargs})


def _constant_grids(rng, num_grids, grid_shape=(4, 4)):
    """Grids whose positions all hold one code, drawn uniformly."""
    codes = rng.integers(0, NUM_CODES, size=num_grids)
    return np.broadcast_to(codes[:, None, None],
                           (num_grids, *grid_shape)).copy()


def _logits(model, grids):
    return keras.ops.convert_to_numpy(model(grids))


def _leaks(prior, rng):
    """Measures, for every position, how its logits respond to other indices.

    Returns `(later, earlier)`: per position, the largest change of its
    logits when every index from that position on (itself included) is
    changed, and when one earlier index is changed.
    """
    height, width = prior.grid_shape
    size = height * width
    base = rng.integers(0, NUM_CODES, size=(height, width))
    grids = [base]
    for position in range(size):
        later = base.copy().ravel()
        later[position:] = (later[position:] + 1) % NUM_CODES
        grids.append(later.reshape(height, width))
    for position in range(size):
        earlier = base.copy().ravel()
        earlier[position] = (earlier[position] + 3) % NUM_CODES
        grids.append(earlier.reshape(height, width))
    logits = _logits(prior, np.stack(grids)).reshape(len(grids), size,
                                                     NUM_CODES)
    base_logits = logits[0]
    later_change = np.array([
        np.abs(logits[1 + p, p] - base_logits[p]).max() for p in range(size)])
    earlier_change = np.zeros(size)
    for changed in range(size):
        diff = np.abs(logits[1 + size + changed] - base_logits).max(axis=-1)
        # Position p sees the change of an index at an earlier position.
        for p in range(changed + 1, size):
            earlier_change[p] = max(earlier_change[p], diff[p])
    return later_change, earlier_change


def test_the_masks_follow_raster_order():
    np.testing.assert_array_equal(
        causal_mask((3, 3), "A"), [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(
        causal_mask((3, 5), "B"),
        [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(causal_mask((1, 3), "A"), [[1, 0, 0]])
    layer = MaskedConv2D(4, 3, mask_type="A")
    layer.build((None, 5, 5, 2))
    assert layer.kernel_mask.shape == (3, 3, 1, 1)


@pytest.mark.parametrize("grid_shape", [(4, 4), (1, 6)])
def test_logits_depend_only_on_earlier_positions(grid_shape, rng):
    prior = _small_prior(grid_shape)
    if grid_shape[0] == 1:  # a sequence: kernels of one row, 1-D convolutions
        kernels = [layer.kernel.shape for layer in prior.network.layers
                   if isinstance(layer, MaskedConv2D)]
        assert {k[:2] for k in kernels} == {(1, 3)}
    later, earlier = _leaks(prior, rng)
    # Changing the position itself or anything after it changes nothing
    # (up to the rounding of the convolution's algorithm).
    assert later.max() < 1e-5, later
    # Every position but the first sees some earlier index.
    assert np.all(earlier[1:] > 1e-3), earlier
    assert earlier[0] == 0.0


def test_the_causality_check_catches_an_unmasked_kernel(rng, monkeypatch):
    monkeypatch.setattr(priors, "causal_mask",
                        lambda kernel_size, mask_type: np.ones(kernel_size))
    later, _ = _leaks(_small_prior(), rng)
    assert later.max() > 1e-3


@pytest.mark.slow  # trains for tens of steps
def test_learns_and_samples_a_structured_distribution(rng):
    grids = _constant_grids(rng, 256)
    prior = _small_prior(filters=32)
    prior.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    uniform = math.log(NUM_CODES)
    before = -prior.log_likelihood(grids).mean() / 16
    assert before == pytest.approx(uniform, rel=0.1)
    history = prior.fit(grids, grids, epochs=8, batch_size=32, verbose=0)
    # The best model pays log(8) for the first position and ~0 after it.
    nll = -prior.log_likelihood(grids).mean() / 16
    assert nll < 0.25 * uniform, history.history["loss"]
    assert history.history["loss"][-1] < 0.25 * uniform
    samples = prior.sample(100, seed=1)
    assert samples.dtype == np.int32 and samples.shape == (100, 4, 4)
    constant = np.all(samples == samples[:, :1, :1], axis=(1, 2))
    assert constant.mean() > 0.9
    # The first code is drawn from all of them, not collapsed onto one.
    assert len(set(samples[:, 0, 0])) >= 6


def test_sampling_is_reproducible_with_a_seed():
    prior = _small_prior()
    first = prior.sample(6, seed=3)
    np.testing.assert_array_equal(prior.sample(6, seed=3), first)
    assert not np.array_equal(prior.sample(6, seed=4), first)
    assert first.min() >= 0 and first.max() < NUM_CODES
    # Without a seed, the model's own generator: two priors of the same
    # seed and weights draw the same sequence, which moves on each call.
    twin = _small_prior()
    twin.set_weights(prior.get_weights())
    draws = prior.sample(6), prior.sample(6)
    np.testing.assert_array_equal(twin.sample(6), draws[0])
    assert not np.array_equal(draws[0], draws[1])


def test_a_low_temperature_samples_the_most_likely_codes(rng):
    prior = _small_prior()
    # With zero biases, an untrained prior's first logits are all equal.
    prior.network.get_layer("logits").bias.assign(rng.normal(size=NUM_CODES))
    # Near 0 every draw is the argmax: one grid, whatever the seed.
    cold = prior.sample(5, seed=1, temperature=1e-4)
    np.testing.assert_array_equal(cold, np.broadcast_to(cold[:1], cold.shape))
    np.testing.assert_array_equal(prior.sample(5, seed=2, temperature=1e-4),
                                  cold)
    first = keras.ops.convert_to_numpy(prior(cold[:1]))[0, 0, 0]
    assert cold[0, 0, 0] == first.argmax()
    assert len({g.tobytes() for g in prior.sample(5, seed=1)}) > 1


def test_log_likelihood_sums_the_log_probabilities_of_the_indices(rng):
    prior = _small_prior()
    grids = rng.integers(0, NUM_CODES, size=(5, 4, 4))
    logits = _logits(prior, grids).astype("float64")
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = np.take_along_axis(log_probs, grids[..., None], -1).sum((1, 2, 3))
    result = prior.log_likelihood(grids, batch_size=2)
    assert result.dtype == np.float32 and result.shape == (5,)
    np.testing.assert_allclose(result, expected, rtol=1e-5)


@keras.saving.register_keras_serializable(package="keras_ae_tests")
class _Holder(keras.Model):
    """A model that holds a prior as a tracked attribute."""

    def __init__(self, prior, **kwargs):
        super().__init__(**kwargs)
        self.prior = prior

    def call(self, inputs):
        return self.prior(inputs)

    def get_config(self):
        return {"name": self.name,
                "prior": keras.saving.serialize_keras_object(self.prior)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["prior"] = keras.saving.deserialize_keras_object(config["prior"])
        return cls(**config)


def test_saves_and_loads_alone_and_inside_another_model(tmp_path, rng):
    grids = _constant_grids(rng, 32)
    prior = _small_prior(grid_shape=(4, 4), filters=8)
    # `compile` defaults to the NLL loss, `fit(x)` to the targets `x`.
    prior.compile(optimizer="adam")
    prior.fit(grids, epochs=1, batch_size=16, verbose=0)
    expected = _logits(prior, grids)
    prior.save(tmp_path / "prior.keras")
    loaded = keras.models.load_model(tmp_path / "prior.keras")
    assert type(loaded) is PixelCNNPrior
    assert loaded.get_config() == prior.get_config()
    np.testing.assert_array_equal(_logits(loaded, grids), expected)
    assert int(loaded.optimizer.iterations.numpy()) == 2
    np.testing.assert_array_equal(loaded.sample(4, seed=0),
                                  prior.sample(4, seed=0))

    holder = _Holder(prior)
    holder(grids[:1])
    holder.save(tmp_path / "holder.keras")
    loaded = keras.models.load_model(tmp_path / "holder.keras")
    assert type(loaded.prior) is PixelCNNPrior
    np.testing.assert_array_equal(_logits(loaded.prior, grids), expected)
    np.testing.assert_array_equal(_logits(loaded, grids), expected)


def test_the_config_is_the_constructor_arguments():
    arguments = {"num_embeddings": 5, "grid_shape": (2, 3), "filters": 8,
                 "num_layers": 0, "kernel_size": 5, "seed": 2}
    config = PixelCNNPrior(**arguments, name="p").get_config()
    assert config == {"name": "p", "trainable": True, **arguments}


@pytest.mark.parametrize("arguments, message", [
    ({"num_embeddings": 1}, ("`num_embeddings` must be an integer >= 2. "
                             "Received: num_embeddings=1")),
    ({"grid_shape": (4,)}, (r"`grid_shape` must be a tuple of two positive "
                            r"integers \(height, width\); use \(1, length\) "
                            r"for a sequence. Received: grid_shape=\(4,\)")),
    ({"grid_shape": (4, 0)}, r"grid_shape=\(4, 0\)"),
    ({"grid_shape": (4, 4.0)}, r"grid_shape=\(4, 4.0\)"),
    ({"grid_shape": 16}, "grid_shape=16"),
    ({"filters": 0}, "`filters` must be a positive integer"),
    ({"num_layers": -1}, "`num_layers` must be a non-negative integer"),
    ({"kernel_size": 4}, ("`kernel_size` must be an odd integer >= 3. "
                          "Received: kernel_size=4")),
    ({"kernel_size": 1}, "kernel_size=1"),
    ({"seed": 1.5}, "`seed` must be .*Received: seed=1.5"),
])
def test_bad_arguments_are_refused_by_name(arguments, message):
    arguments = {"num_embeddings": 4, "grid_shape": (4, 4), **arguments}
    with pytest.raises(ValueError, match=message):
        PixelCNNPrior(**arguments)


def test_bad_indices_and_sampling_arguments_are_refused():
    prior = _small_prior(filters=4, num_layers=0)
    with pytest.raises(ValueError, match=r"`indices` must lie in \[0, "
                       r"num_embeddings\) = \[0, 8\). Received: indices with "
                       r"values in \[0, 8\]"):
        prior.log_likelihood(np.eye(4, dtype=int)[None] * 8)
    with pytest.raises(ValueError, match=r"values in \[-1, 0\]"):
        prior.log_likelihood(-np.eye(4, dtype=int)[None])
    with pytest.raises(ValueError, match="integer code indices. Received: "
                       "indices of dtype float64"):
        prior.log_likelihood(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match=r"shape \(num_grids, 4, 4\) for this "
                       r"prior. Received: indices with shape \(2, 16\)"):
        prior.log_likelihood(np.zeros((2, 16), int))
    prior.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"`x` must lie in \[0, "
                       r"num_embeddings\)"):
        prior.fit(np.full((2, 4, 4), 9), verbose=0)
    with pytest.raises(ValueError, match="`num_samples` must be a positive "
                       "integer"):
        prior.sample(0)
    for temperature in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="`temperature` must be a finite "
                           f"number > 0. Received: temperature={temperature}"):
            prior.sample(2, temperature=temperature)
    with pytest.raises(ValueError, match="`mask_type` must be 'A'"):
        MaskedConv2D(4, 3, mask_type="C")
    with pytest.raises(ValueError, match="larger than 1 with mask_type='A'"):
        MaskedConv2D(4, 1, mask_type="A")
