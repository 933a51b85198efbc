"""Tests of the corruption layers: parameters, determinism, ranges, config."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ae.corruptions import GaussianNoise
from keras_ae.corruptions import Occlusion
from keras_ae.corruptions import SaltAndPepper
from keras_ae.corruptions import TokenMasking
from keras_ae.data import make_dataset

LAYERS = {
    "gaussian_noise": lambda seed: GaussianNoise(0.5, seed=seed),
    "salt_and_pepper": lambda seed: SaltAndPepper(0.2, seed=seed),
    "occlusion": lambda seed: Occlusion((10, 8), count=2, seed=seed),
    "token_masking": lambda seed: TokenMasking(0.5, patch_size=7, seed=seed),
}


def images(n=16, value=None, shape=(28, 28, 1), seed=0):
    if value is not None:
        return np.full((n, *shape), value, dtype="float32")
    return np.random.default_rng(seed).uniform(size=(n, *shape)).astype("float32")


def run(layer, x, calls=1):
    return [keras.ops.convert_to_numpy(layer(x, training=True))
            for _ in range(calls)]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_inference_returns_the_input_unchanged(name):
    layer, x = LAYERS[name](0), images()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(x, training=False)), x)
    assert not np.array_equal(run(layer, x)[0], x)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_a_seed_gives_the_same_sequence_of_corruptions(name):
    x = images()
    first, again = run(LAYERS[name](3), x, 3), run(LAYERS[name](3), x, 3)
    other = run(LAYERS[name](4), x, 3)
    for a, b, c in zip(first, again, other):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    # Successive calls draw new corruptions.
    assert not np.array_equal(first[0], first[1])


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_the_config_round_trip_keeps_the_integer_seed(name):
    layer = LAYERS[name](7)
    config = layer.get_config()
    assert config["seed"] == 7 and isinstance(config["seed"], int)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer)
    assert restored.get_config() == config
    x = images()
    np.testing.assert_array_equal(run(layer, x)[0], run(restored, x)[0])


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_outputs_stay_in_the_unit_range(name):
    for out in run(LAYERS[name](0), images(64), 2):
        assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_a_sequential_tf_data_map_is_deterministic(name):
    x = images(96)

    def corrupted_epochs(layer):
        dataset = tf.data.Dataset.from_tensor_slices(x).batch(32).map(
            lambda batch: layer(batch, training=True))
        return [np.concatenate([b.numpy() for b in dataset]) for _ in range(2)]

    first = corrupted_epochs(LAYERS[name](1))
    again = corrupted_epochs(LAYERS[name](1))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1])  # a new draw each epoch


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_make_dataset_yields_corrupted_inputs_and_clean_targets(name):
    x = images(40)
    batches = list(make_dataset(x, batch_size=16, shuffle=False,
                                corruption=LAYERS[name](0)))
    assert [len(inputs) for inputs, _ in batches] == [16, 16, 8]
    targets = np.concatenate([t.numpy() for _, t in batches])
    inputs = np.concatenate([i.numpy() for i, _ in batches])
    np.testing.assert_array_equal(targets, x)
    assert inputs.shape == x.shape and not np.array_equal(inputs, x)


# --- GaussianNoise -----------------------------------------------------------


@pytest.mark.parametrize("noise_factor", [0.1, 0.5])
def test_gaussian_noise_has_the_requested_standard_deviation(noise_factor):
    x = images(64)
    noisy = run(GaussianNoise(noise_factor, clip=False, seed=0), x)[0]
    noise = noisy - x
    assert abs(noise.mean()) < 0.01 * noise_factor + 2e-3
    assert noise.std() == pytest.approx(noise_factor, rel=0.02)


def test_gaussian_noise_clips_only_when_asked():
    x = images(16, value=0.5)
    clipped = run(GaussianNoise(1.0, seed=0), x)[0]
    unclipped = run(GaussianNoise(1.0, clip=False, seed=0), x)[0]
    np.testing.assert_allclose(clipped, np.clip(unclipped, 0.0, 1.0))
    assert unclipped.min() < 0.0 and unclipped.max() > 1.0


def test_zero_noise_changes_nothing():
    x = images()
    np.testing.assert_array_equal(run(GaussianNoise(0.0, seed=0), x)[0], x)


# --- SaltAndPepper -----------------------------------------------------------


@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_salt_and_pepper_hits_the_requested_fraction(rate):
    x = images(64, value=0.5)  # every hit pixel becomes 0 or 1
    out = run(SaltAndPepper(rate, seed=0), x)[0]
    assert set(np.unique(out)) <= {0.0, 0.5, 1.0}
    pepper, salt = np.mean(out == 0.0), np.mean(out == 1.0)
    assert pepper == pytest.approx(rate / 2, abs=0.01)
    assert salt == pytest.approx(rate / 2, abs=0.01)


def test_salt_and_pepper_hits_all_channels_of_a_pixel_alike():
    out = run(SaltAndPepper(0.5, seed=0), images(8, value=0.5, shape=(12, 12, 3)))[0]
    assert np.all(out == out[..., :1])
    assert np.mean(out != 0.5) == pytest.approx(0.5, abs=0.05)


# --- Occlusion ---------------------------------------------------------------


def test_one_occluder_zeroes_exactly_one_rectangle_per_image():
    x = images(50, value=1.0)
    out = run(Occlusion((6, 9), count=1, seed=0), x)[0][..., 0]
    for image in out:
        rows, cols = np.nonzero(image == 0.0)
        assert len(rows) == 6 * 9
        assert rows.max() - rows.min() + 1 == 6
        assert cols.max() - cols.min() + 1 == 9


def test_occluded_area_is_size_times_count_without_overlap():
    # Two 5x5 squares in 28x28 images: the area is 50 when they do not
    # overlap, less otherwise; the share of overlaps matches a NumPy
    # simulation of uniform placements.
    x = images(2000, value=1.0)
    areas = (run(Occlusion(5, count=2, seed=0), x)[0] == 0.0).sum(axis=(1, 2, 3))
    assert areas.max() == 50 and areas.min() >= 25
    rng = np.random.default_rng(0)
    corners = rng.integers(0, 24, size=(200_000, 2, 2))
    overlap = np.all(np.abs(corners[:, 0] - corners[:, 1]) < 5, axis=1)
    assert np.mean(areas < 50) == pytest.approx(overlap.mean(), abs=0.02)


def test_occluders_are_placed_everywhere():
    out = run(Occlusion(4, seed=0), images(500, value=1.0))[0][..., 0]
    tops = [np.nonzero(image == 0.0)[0].min() for image in out]
    lefts = [np.nonzero(image == 0.0)[1].min() for image in out]
    assert min(tops) == 0 and max(tops) == 24
    assert min(lefts) == 0 and max(lefts) == 24


def test_occlusion_takes_images_without_a_channel_axis():
    out = run(Occlusion(3, count=1, seed=0), images(4, value=1.0, shape=(10, 10)))[0]
    assert out.shape == (4, 10, 10)
    assert np.all((out == 0.0).sum(axis=(1, 2)) == 9)


def test_an_occluder_larger_than_the_image_is_refused():
    with pytest.raises(ValueError, match=r"size.*Received: size=\(12, 3\)"):
        Occlusion((12, 3))(images(2, shape=(10, 10, 1)), training=True)


# --- TokenMasking ------------------------------------------------------------


def test_token_masking_zeroes_whole_patches_at_the_requested_rate():
    out = run(TokenMasking(0.25, patch_size=7, seed=0), images(32, value=1.0))[0]
    patches = out[..., 0].reshape(32, 4, 7, 4, 7).transpose(0, 1, 3, 2, 4)
    patches = patches.reshape(32, 16, 49)
    assert np.all((patches == 0).all(axis=2) | (patches == 1).all(axis=2))
    assert np.all((patches == 0).all(axis=2).sum(axis=1) == 4)  # 0.25 * 16


def test_token_masking_zeroes_whole_time_steps_of_sequences():
    x = np.ones((20, 24, 3), dtype="float32")
    out = run(TokenMasking(0.5, seed=0), x)[0]
    masked_steps = (out == 0).all(axis=2)
    assert np.all((out == 0).any(axis=2) == masked_steps)
    assert np.all(masked_steps.sum(axis=1) == 12)
    # Different examples get different steps.
    assert len({tuple(row) for row in masked_steps}) > 1


def test_token_masking_refuses_a_patch_that_does_not_divide_the_image():
    with pytest.raises(ValueError, match="patch_size=5"):
        TokenMasking(0.5, patch_size=5)(images(2), training=True)


# --- Arguments ---------------------------------------------------------------


@pytest.mark.parametrize("build, message", [
    (lambda: GaussianNoise(-1.0), r"noise_factor=-1\.0"),
    (lambda: GaussianNoise(float("nan")), r"noise_factor=nan"),
    (lambda: GaussianNoise(0.5, clip="yes"), r"clip='yes'"),
    (lambda: SaltAndPepper(1.5), r"rate=1\.5"),
    (lambda: Occlusion(0), r"size=0"),
    (lambda: Occlusion((3,)), r"size=\(3,\)"),
    (lambda: Occlusion(3, count=0), r"count=0"),
    (lambda: TokenMasking(-0.1), r"rate=-0\.1"),
    (lambda: TokenMasking(0.5, patch_size=0), r"patch_size=0"),
    (lambda: GaussianNoise(0.5, seed=-1), r"seed=-1"),
])
def test_bad_arguments_are_refused_in_keras_voice(build, message):
    with pytest.raises(ValueError, match="Received: " + message):
        build()
