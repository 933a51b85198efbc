"""The vector quantizer of a VQ-VAE: nearest codes, losses, EMA, restarts, TFLite.

The quantizer must pick the nearest codebook vector, pass gradients straight
through, return per-example losses that train the right variables, move an
EMA codebook by the published update, restart dead codes inside a compiled
training step, and convert its inference path to TensorFlow Lite with
builtin ops only, giving Keras' indices.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_ae.quantization import VectorQuantizer


def _nearest(z, codebook):
    """NumPy reference: index of the nearest code of every vector."""
    flat = z.reshape(-1, codebook.shape[1])
    distances = ((flat[:, None, :] - codebook[None]) ** 2).sum(-1)
    return distances.argmin(-1).reshape(z.shape[:-1])


def _clusters(rng, num_vectors, shape, centres, noise=0.05):
    """Vectors near `centres`, shape `(num_vectors, *shape, dim)`."""
    picks = rng.integers(0, len(centres), size=(num_vectors, *shape))
    return (centres[picks]
            + noise * rng.normal(size=(*picks.shape, centres.shape[1]))
            ).astype("float32")


@pytest.mark.parametrize("shape", [(5, 3), (5, 7, 3), (5, 4, 4, 3)])
def test_quantizes_to_the_nearest_code_at_any_number_of_positions(shape, rng):
    vq = VectorQuantizer(num_embeddings=6, embedding_dim=3, seed=0)
    z = rng.normal(size=shape).astype("float32")
    codebook = vq.codebook.numpy()
    expected = _nearest(z, codebook)
    quantized, indices = vq(z, return_indices=True)
    assert indices.dtype == "int32" and tuple(indices.shape) == shape[:-1]
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_array_equal(vq.indices(z), expected)
    np.testing.assert_allclose(quantized, codebook[expected], atol=1e-6)
    np.testing.assert_array_equal(vq.lookup(expected), codebook[expected])
    assert len(set(expected.ravel())) > 1  # not one code for everything


def test_ties_and_codes_on_the_data_give_argmin_indices():
    vq = VectorQuantizer(num_embeddings=4, embedding_dim=2, seed=0)
    # Codes 1 and 3 are the same vector: the first one wins, as in argmin.
    vq.codebook.assign(np.array([[1, 0], [0, 1], [-1, 0], [0, 1]], "float32"))
    z = np.array([[[0, 1], [1, 0], [-1, 0], [0.0, -0.0]]], "float32")
    np.testing.assert_array_equal(vq.indices(z), [[1, 0, 2, 0]])


def test_the_output_passes_gradients_straight_through(rng):
    vq = VectorQuantizer(num_embeddings=6, embedding_dim=3, seed=0)
    z = tf.constant(rng.normal(size=(4, 5, 3)).astype("float32"))
    weights = tf.constant(rng.normal(size=(4, 5, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(z)
        outputs = ops.sum(vq(z) * weights)
    grad_z, grad_codebook = tape.gradient(outputs, [z, vq.codebook])
    np.testing.assert_allclose(grad_z, weights, rtol=1e-6)
    assert grad_codebook is None


def test_losses_are_per_example_sums_that_train_the_right_side(rng):
    vq = VectorQuantizer(num_embeddings=6, embedding_dim=3,
                         commitment_cost=0.5, seed=0)
    z_np = rng.normal(size=(4, 5, 3)).astype("float32")
    z_np[0] *= 3.0  # examples with different losses
    z = tf.constant(z_np)
    codebook = vq.codebook.numpy()
    error = ((z_np - codebook[_nearest(z_np, codebook)]) ** 2).sum(axis=(1, 2))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(z)
        terms = vq.quantize_with_losses(z)
        codebook_loss = ops.sum(terms["codebook_loss"])
        commitment_loss = ops.sum(terms["commitment_loss"])
    assert tuple(terms["codebook_loss"].shape) == (4,)
    np.testing.assert_allclose(terms["codebook_loss"], error, rtol=1e-5)
    np.testing.assert_allclose(terms["commitment_loss"], 0.5 * error, rtol=1e-5)
    direct = vq.quantization_losses(z, terms["indices"])
    np.testing.assert_allclose(direct["codebook_loss"], error, rtol=1e-5)
    # The codebook loss moves the codebook only, the commitment loss z only.
    grad_z, grad_codebook = tape.gradient(codebook_loss, [z, vq.codebook])
    assert grad_z is None or not np.any(grad_z)
    assert np.any(grad_codebook)
    grad_z, grad_codebook = tape.gradient(commitment_loss, [z, vq.codebook])
    assert np.any(grad_z)
    assert grad_codebook is None or not np.any(grad_codebook)


def test_an_ema_codebook_is_not_trained_by_gradient(rng):
    vq = VectorQuantizer(num_embeddings=6, embedding_dim=3, ema=True, seed=0)
    assert vq.trainable_weights == []
    assert {w.name for w in vq.non_trainable_weights} >= {
        "codebook", "running_usage", "ema_cluster_size", "ema_embedding_sum"}
    terms = vq.quantize_with_losses(rng.normal(size=(4, 5, 3)).astype("float32"))
    np.testing.assert_array_equal(terms["codebook_loss"], np.zeros(4))
    assert np.all(terms["commitment_loss"].numpy() > 0)


def test_perplexity_and_usage_of_a_batch():
    vq = VectorQuantizer(num_embeddings=4, embedding_dim=2, seed=0)
    one_code = np.full((2, 3, 3), 2)
    every_code = np.array([[0, 1], [2, 3]])
    two_codes = np.array([[0, 0, 3, 3]])
    assert float(vq.perplexity(one_code)) == pytest.approx(1.0)
    assert float(vq.usage(one_code)) == pytest.approx(0.25)
    assert float(vq.perplexity(every_code)) == pytest.approx(4.0)
    assert float(vq.usage(every_code)) == pytest.approx(1.0)
    assert float(vq.perplexity(two_codes)) == pytest.approx(2.0)
    assert float(vq.usage(two_codes)) == pytest.approx(0.5)


def test_ema_update_follows_the_smoothed_moving_averages(rng):
    decay, epsilon = 0.9, 1e-3
    vq = VectorQuantizer(num_embeddings=4, embedding_dim=2, ema=True,
                         decay=decay, epsilon=epsilon, seed=0)
    codebook = vq.codebook.numpy()
    z = rng.normal(size=(6, 5, 2)).astype("float32")
    indices = _nearest(z, codebook)
    vq.update_codebook(z, indices)
    one_hot = np.eye(4)[indices.ravel()]
    size = decay * 1.0 + (1 - decay) * one_hot.sum(0)
    total = decay * codebook + (1 - decay) * one_hot.T @ z.reshape(-1, 2)
    smoothed = (size + epsilon) / (size.sum() + 4 * epsilon) * size.sum()
    np.testing.assert_allclose(vq.ema_cluster_size.numpy(), size, rtol=1e-5)
    np.testing.assert_allclose(vq.ema_embedding_sum.numpy(), total,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vq.codebook.numpy(), total / smoothed[:, None],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ema", [False, True])
def test_a_compiled_training_step_learns_the_clusters(ema, rng):
    # Four clusters, eight codes: the codes that no cluster wins die and
    # restart on the data until every cluster has a code on it.
    centres = np.array([[0, 0], [3, 0], [0, 3], [3, 3]], "float32") - 1.5
    data = _clusters(rng, 256, (6,), centres)
    vq = VectorQuantizer(num_embeddings=8, embedding_dim=2, ema=ema,
                         decay=0.8, restart_threshold=0.5, seed=0)
    vq.codebook.assign(vq.codebook.numpy() * 0.1 + 10.0)  # far from the data
    optimizer = keras.optimizers.Adam(0.05)

    @tf.function
    def step(z):
        with tf.GradientTape() as tape:
            terms = vq.quantize_with_losses(z)
            loss = ops.mean(terms["codebook_loss"] + terms["commitment_loss"])
        if vq.trainable_weights:
            gradients = tape.gradient(loss, vq.trainable_weights)
            optimizer.apply_gradients(zip(gradients, vq.trainable_weights))
        restarted = vq.train_update(z, terms["indices"])
        return restarted, vq.usage(terms["indices"])

    restarts = 0
    for i in range(40):
        restarted, _ = step(data[(i % 8) * 32:(i % 8 + 1) * 32])
        restarts += int(restarted)
    assert restarts >= 4
    codebook = vq.codebook.numpy()
    gaps = np.sqrt(((centres[:, None] - codebook[None]) ** 2).sum(-1)).min(1)
    assert gaps.max() < 0.2, gaps
    # What the noise around the centres leaves: 0.25 * 6 positions * 2 dims
    # * 0.05 ** 2.
    noise_floor = 0.25 * 6 * 2 * 0.05 ** 2
    terms = vq.quantize_with_losses(data)
    assert float(ops.mean(terms["commitment_loss"])) < 2 * noise_floor


def test_restart_replaces_only_dead_codes_by_batch_vectors(rng):
    vq = VectorQuantizer(num_embeddings=6, embedding_dim=3, seed=0)
    before = vq.codebook.numpy()
    uniform = 1.0 / 6
    usage = np.array([uniform, 0.0, uniform, 0.001, uniform, 0.5], "float32")
    vq.running_usage.assign(usage)
    z = rng.normal(size=(2, 4, 3)).astype("float32")
    restarted = tf.function(vq.restart_dead_codes)(z)
    after = vq.codebook.numpy()
    assert int(restarted) == 2
    for code in (1, 3):  # dead: below 0.1 of the uniform share
        assert np.any(np.all(after[code] == z.reshape(-1, 3), axis=1))
    np.testing.assert_array_equal(after[[0, 2, 4, 5]], before[[0, 2, 4, 5]])
    dead_share = 0.1 * uniform  # restarted codes are on probation
    np.testing.assert_allclose(
        vq.running_usage.numpy(),
        [uniform, dead_share, uniform, dead_share, uniform, 0.5])


def test_a_code_no_vector_picks_is_restarted_at_the_first_step():
    # Two clusters far from every initial code: one code takes both at
    # first; the step's restart gives the unpicked codes vectors of the
    # batch, so that the next step uses more than one code.
    vq = VectorQuantizer(num_embeddings=4, embedding_dim=2, seed=0)
    z = np.concatenate([np.full((8, 2), 10.0), np.full((8, 2), -10.0)])
    z = z.astype("float32")
    first = vq.indices(z)
    restarted = int(vq.train_update(z, first))
    assert restarted == 4 - len(np.unique(first)) >= 2
    assert len(np.unique(vq.indices(z))) == 2


def test_restart_of_an_ema_codebook_resets_its_moving_averages(rng):
    vq = VectorQuantizer(num_embeddings=4, embedding_dim=2, ema=True, seed=0)
    vq.running_usage.assign(np.array([0.5, 0.0, 0.25, 0.25], "float32"))
    z = rng.normal(size=(3, 5, 2)).astype("float32")
    assert int(vq.restart_dead_codes(z)) == 1
    new = vq.codebook.numpy()[1]
    np.testing.assert_array_equal(vq.ema_embedding_sum.numpy()[1], new)
    assert vq.ema_cluster_size.numpy()[1] == 1.0


def test_restarts_are_reproducible_with_a_seed(rng):
    z = rng.normal(size=(2, 16, 3)).astype("float32")
    codebooks = []
    for _ in range(2):
        vq = VectorQuantizer(num_embeddings=8, embedding_dim=3, seed=7)
        vq.running_usage.assign(np.zeros(8, "float32"))
        vq.restart_dead_codes(z)
        codebooks.append(vq.codebook.numpy())
    np.testing.assert_array_equal(codebooks[0], codebooks[1])


def test_train_update_without_restarts_only_tracks_usage():
    vq = VectorQuantizer(num_embeddings=4, embedding_dim=2, decay=0.5,
                         restart_unused=False, seed=0)
    before = vq.codebook.numpy()
    vq.running_usage.assign(np.zeros(4, "float32"))
    z = np.zeros((2, 2, 2), "float32")
    restarted = vq.train_update(z, np.array([[0, 0], [0, 1]]))
    assert int(restarted) == 0
    np.testing.assert_array_equal(vq.codebook.numpy(), before)
    np.testing.assert_allclose(vq.running_usage.numpy(), [0.375, 0.125, 0, 0])


def test_train_update_of_an_ema_codebook_makes_the_ema_update(rng):
    layers = [VectorQuantizer(num_embeddings=4, embedding_dim=2, ema=True,
                              restart_unused=False, seed=0) for _ in range(2)]
    z = rng.normal(size=(3, 5, 2)).astype("float32")
    indices = layers[0].indices(z)
    layers[0].train_update(z, indices)
    layers[1].update_codebook(z, indices)
    assert not np.allclose(layers[0].ema_cluster_size.numpy(), 1.0)
    for name in ("codebook", "ema_cluster_size", "ema_embedding_sum"):
        np.testing.assert_array_equal(getattr(layers[0], name).numpy(),
                                      getattr(layers[1], name).numpy())


def test_the_inference_path_converts_to_tflite_with_builtin_ops(tmp_path, rng):
    from ai_edge_litert.interpreter import Interpreter

    vq = VectorQuantizer(num_embeddings=16, embedding_dim=8, seed=0)
    inputs = keras.Input((4, 4, 8))
    quantized, indices = vq(inputs, return_indices=True)
    model = keras.Model(inputs, {"quantized": quantized, "indices": indices})
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "quantize", lambda z: model(z),
        input_signature=[tf.TensorSpec((None, 4, 4, 8), tf.float32)])
    archive.add_endpoint(
        "lookup", lambda i: {"vectors": vq.lookup(i)},
        input_signature=[tf.TensorSpec((None, 4, 4), tf.int32)])
    archive.write_out(str(tmp_path / "vq"), verbose=False)

    def convert(name):
        converter = tf.lite.TFLiteConverter.from_saved_model(
            str(tmp_path / "vq"), signature_keys=[name])
        # Builtins only: a Flex or custom op fails the conversion.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        interpreter = Interpreter(model_content=converter.convert())
        return interpreter.get_signature_runner(name)

    z = rng.normal(size=(5, 4, 4, 8)).astype("float32")
    expected = model(z)
    outputs = convert("quantize")(z=z)
    assert outputs["indices"].dtype == np.int32
    np.testing.assert_array_equal(outputs["indices"], expected["indices"])
    np.testing.assert_allclose(outputs["quantized"], expected["quantized"],
                               atol=1e-5)
    codes = np.asarray(expected["indices"])
    vectors = convert("lookup")(i=codes)["vectors"]
    np.testing.assert_allclose(vectors, vq.codebook.numpy()[codes], atol=1e-6)


def test_saves_and_loads_with_its_config_and_state(tmp_path, rng):
    arguments = {"num_embeddings": 5, "embedding_dim": 3,
                 "commitment_cost": 0.5, "ema": True, "decay": 0.95,
                 "epsilon": 1e-4, "restart_unused": False,
                 "restart_threshold": 0.2, "seed": 3}
    vq = VectorQuantizer(**arguments, name="vq")
    config = vq.get_config()
    assert {k: config[k] for k in arguments} == arguments
    z = rng.normal(size=(4, 2, 3)).astype("float32")
    vq.train_update(z, vq.indices(z))
    inputs = keras.Input((2, 3))
    model = keras.Model(inputs, vq(inputs))
    model.save(tmp_path / "vq.keras")
    loaded = keras.models.load_model(tmp_path / "vq.keras")
    loaded_vq = loaded.get_layer("vq")
    assert isinstance(loaded_vq, VectorQuantizer)
    for a, b in zip(vq.weights, loaded_vq.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(loaded(z), model(z))


@pytest.mark.parametrize("arguments, message", [
    ({"num_embeddings": 1}, ("`num_embeddings` must be an integer >= 2. "
                             "Received: num_embeddings=1")),
    ({"num_embeddings": 4.0}, "num_embeddings=4.0"),
    ({"num_embeddings": True}, "num_embeddings=True"),
    ({"embedding_dim": 0}, "`embedding_dim` must be a positive integer"),
    ({"commitment_cost": -0.1}, ("`commitment_cost` must be a finite number "
                                 ">= 0. Received: commitment_cost=-0.1")),
    ({"ema": 1}, "`ema` must be a bool"),
    ({"decay": 0.0}, (r"`decay` must be a number in the open interval \(0, "
                      r"1\). Received: decay=0.0")),
    ({"decay": 1.0}, "decay=1.0"),
    ({"epsilon": 0.0}, ("`epsilon` must be a finite number > 0. Received: "
                        "epsilon=0.0")),
    ({"epsilon": -1e-5}, "epsilon=-1e-05"),
    ({"restart_unused": "yes"}, "`restart_unused` must be a bool"),
    ({"restart_threshold": 1.5}, "restart_threshold=1.5"),
    ({"seed": -1}, "`seed` must be .*Received: seed=-1"),
])
def test_bad_arguments_are_refused_by_name(arguments, message):
    arguments = {"num_embeddings": 4, "embedding_dim": 2, **arguments}
    with pytest.raises(ValueError, match=message):
        VectorQuantizer(**arguments)


def test_bad_indices_and_inputs_are_refused():
    vq = VectorQuantizer(num_embeddings=4, embedding_dim=2, seed=0)
    with pytest.raises(ValueError, match=r"`indices` must lie in \[0, "
                       r"num_embeddings\) = \[0, 4\). Received: indices with "
                       r"values in \[0, 4\]"):
        vq.lookup(np.array([[0, 4]]))
    with pytest.raises(ValueError, match=r"values in \[-1, 1\]"):
        vq.lookup([[-1, 1]])
    with pytest.raises(ValueError, match="integer code indices. Received: "
                       "indices of dtype float"):
        vq.check_indices(np.array([0.0, 1.0]))
    np.testing.assert_array_equal(vq.check_indices([[3, 0]]), [[3, 0]])
    with pytest.raises(ValueError, match=r"embedding_dim=2\). Received: "
                       r"inputs with shape \(3, 5\)"):
        vq.indices(np.zeros((3, 5), "float32"))
    with pytest.raises(ValueError, match="ema=False"):
        vq.update_codebook(np.zeros((1, 2), "float32"), np.zeros((1,), "int32"))
