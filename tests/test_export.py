"""Tests of `keras_ae.export`: SavedModels for TF Serving and TensorFlow Lite.

The contract suite (`tests/test_contract.py`) exports every family x
objective pair and checks its SavedModel signatures and its float
`serving_default` TensorFlow Lite model against Keras. What is special to
export is here: every family as an AE and as a VAE briefly trained on the
embedded digits (so that quantization ranges are those of a real model),
quantized within bounds; the `encode` and `decode` TensorFlow Lite models of
every family; TF Serving's layout, `models.config` and REST bodies parsed as
TF Serving does; `saved_model_cli`; the command line; and every refusal.
"""

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import warnings
import zipfile

import keras
import numpy as np
import pytest
import settings
import tensorflow as tf
from google.protobuf import text_format
from lock_holder import held
from serving_rest import rest_request_to_tensors
from serving_rest import tensors_to_rest_response
from tensorflow_serving.config import model_server_config_pb2

from keras_ae import build_autoencoder
from keras_ae import cli
from keras_ae import export
from keras_ae import io
from keras_ae.data import load_digits
from keras_ae.export import export_utils
from keras_ae.export import saved_model as saved_model_lib
from keras_ae.export import tflite as tflite_lib
from keras_ae.objectives import AutoEncoder
from keras_ae.registry import list_autoencoders

INPUT_SHAPE = (28, 28, 1)
LATENT_DIM = 4
# Small versions of the known families; a new family runs with its defaults.
FAMILY_OPTIONS = {
    "dense": {"hidden_units": (64,)},
    "conv": {"filters": (8, 16)},
    "lstm": {"units": (16,)},
    # Weights of 1,024 values or more, so that dynamic range quantization
    # (which skips smaller tensors) has something to quantize.
    "transformer": {"embed_dim": 32, "num_layers": 1, "num_heads": 2,
                    "mlp_dim": 64},
}
KINDS = {"ae": False, "vae": True}
CASES = [(family, kind) for family in list_autoencoders() for kind in KINDS]
CASE_IDS = [f"{family}-{kind}" for family, kind in CASES]
# What does not depend on the family (REST parsing, the signatures' input
# checks) is checked on one.
DENSE_CASES = [("dense", kind) for kind in KINDS]

# Parity with Keras (max abs difference over every output value).
SAVED_MODEL_TOLERANCE = 1e-5
TFLITE_FLOAT_TOLERANCE = 1e-4
# Quantized models vs the Keras float model, outputs in [0, 1]: bounds on
# (max abs, mean abs) difference. Worst figures measured on the 1,000
# validation digits with the families' default sizes trained 5 epochs on the
# 4,000 training digits (latent_dim 16), AE and VAE, serving_default and
# decode: dynamic 0.042 / 0.0012, float16 0.0011 / 0.00004, int8 0.134 /
# 0.0035 (the int8 maximum is a single pixel on the sigmoid's steep part; the
# mean is the figure that tells a working model). The bounds are about twice
# those, so that a broken conversion (a wrong scale, a skipped dequantize:
# errors of 0.1-0.5 on average) fails while a different seed passes.
QUANTIZED_TOLERANCES = {
    "dynamic": (0.1, 0.003),
    "float16": (0.003, 0.0002),
    "int8": (0.25, 0.008),
}


# --- Fixtures ----------------------------------------------------------------


@dataclasses.dataclass
class Deployed:
    model: AutoEncoder
    saved_model_dir: str
    loaded: object
    x: np.ndarray  # validation digits
    _float_flatbuffers: dict = dataclasses.field(default_factory=dict)

    def float_flatbuffer(self, signature="serving_default"):
        if signature not in self._float_flatbuffers:
            self._float_flatbuffers[signature] = export.convert_to_tflite(
                self.saved_model_dir, signature=signature)
        return self._float_flatbuffers[signature]


@pytest.fixture(scope="module")
def digits():
    (x_train, _), (x_val, _) = load_digits()
    return x_train, x_val


# The tests that ask for it share a worker (their group), and the session
# scope keeps it while that worker runs other modules' tests in between: each
# model is trained, exported and converted once.
DEPLOYED = pytest.mark.xdist_group("deployed")


@pytest.fixture(scope="session")
def deployed(tmp_path_factory):
    """Returns `get(family, kind)`: a trained, exported and loaded model."""
    (x_train, _), (x_val, _) = load_digits()
    base_dir = tmp_path_factory.mktemp("served")
    cache = {}

    def get(family, kind):
        if (family, kind) not in cache:
            keras.utils.set_random_seed(0)
            model = build_autoencoder(
                family, INPUT_SHAPE, LATENT_DIM, variational=KINDS[kind],
                reconstruction_loss="bce", seed=0 if KINDS[kind] else None,
                **FAMILY_OPTIONS.get(family, {}))
            model.compile(optimizer=keras.optimizers.Adam(3e-3))
            model.fit(x_train[:1024], epochs=2, batch_size=64, verbose=0)
            path = export.export_saved_model(model, base_dir,
                                             f"{family}_{kind}")
            cache[family, kind] = Deployed(model, path,
                                           tf.saved_model.load(path),
                                           x_val[:64])
        return cache[family, kind]

    return get


@pytest.fixture(scope="module")
def tiny_ae():
    keras.utils.set_random_seed(0)
    return build_autoencoder("dense", (6, 4), 3, hidden_units=(8,),
                             activation="relu", output_activation="sigmoid")


@pytest.fixture(scope="module")
def tiny_vae():
    keras.utils.set_random_seed(0)
    return build_autoencoder("dense", (6, 4), 3, variational=True,
                             hidden_units=(8,), seed=0)


@pytest.fixture(scope="module")
def tiny_loaded(tiny_ae, tmp_path_factory):
    """The loaded SavedModel of `tiny_ae`."""
    base_dir = tmp_path_factory.mktemp("tiny_served")
    return tf.saved_model.load(
        export.export_saved_model(tiny_ae, base_dir, "tiny"))


def _max_abs(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a.astype("float64") - b)))


def _keras_outputs(model, signature, inputs):
    """The Keras model's outputs for a signature, as `{name: array}`."""
    if signature == "serving_default":
        return {"reconstruction": model.reconstruct(inputs)}
    if signature == "decode":
        return {"reconstruction": model.decode(inputs)}
    outputs = model.encoder(inputs, training=False)
    if model.__class__.__name__ == "VariationalAutoEncoder":
        return {"z_mean": np.asarray(outputs[0]),
                "z_log_var": np.asarray(outputs[1])}
    return {"z": np.asarray(outputs)}


def _tree(path):
    """Every file under `path` with its bytes, to prove nothing changed."""
    files = {}
    for root, _, names in os.walk(path):
        for name in names:
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                files[os.path.relpath(full, path)] = f.read()
    return files


# --- SavedModel: signatures, REST, saved_model_cli ---------------------------


@pytest.mark.slow
@DEPLOYED
@pytest.mark.parametrize("family,kind", DENSE_CASES, ids=sorted(KINDS))
def test_saved_model_rest_requests_match_keras(deployed, family, kind):
    case = deployed(family, kind)
    signatures = case.loaded.signatures
    assert sorted(signatures) == ["decode", "encode", "serving_default"]
    x = case.x[:5]
    z = case.model.encode(x)
    bodies = {
        # Row format, one plain value per instance (a single input).
        "serving_default": {"instances": x.tolist()},
        # Row format with named inputs.
        "encode": {"signature_name": "encode",
                   "instances": [{"inputs": row} for row in x.tolist()]},
        # Columnar format.
        "decode": {"signature_name": "decode", "inputs": {"z": z.tolist()}},
    }
    for signature, body in bodies.items():
        # Through JSON text, as the request reaches the server.
        tensors = rest_request_to_tensors(json.dumps(body), signatures)
        assert {n: t.dtype for n, t in tensors.items()} == {
            ("z" if signature == "decode" else "inputs"): tf.float32}
        outputs = signatures[signature](**tensors)
        expected = _keras_outputs(case.model,
                                  signature, z if signature == "decode" else x)
        assert sorted(outputs) == sorted(expected)
        for name, value in outputs.items():
            assert value.dtype == tf.float32
            assert _max_abs(value, expected[name]) <= SAVED_MODEL_TOLERANCE
        response = tensors_to_rest_response(outputs)
        assert len(response["predictions"]) == 5
        json.dumps(response)

    # The batch dimension is dynamic: one example works too.
    spec = signatures["serving_default"].structured_input_signature[1]["inputs"]
    assert spec.shape.as_list() == [None, *INPUT_SHAPE]
    one = signatures["serving_default"](inputs=tf.constant(x[:1]))
    assert _max_abs(one["reconstruction"],
                    case.model.reconstruct(x[:1])) <= SAVED_MODEL_TOLERANCE


@pytest.mark.slow
@DEPLOYED
@pytest.mark.parametrize("family,kind", DENSE_CASES, ids=sorted(KINDS))
def test_saved_model_refuses_wrong_shapes_naming_expected(deployed, family,
                                                          kind):
    signatures = deployed(family, kind).loaded.signatures
    # Same number of values per example (28 * 28): without a check the dense
    # family would accept it silently.
    bad_inputs = [np.zeros((2, 28, 28), "float32"),
                  np.zeros((2, 27, 28, 1), "float32"),
                  np.zeros((2, 28, 28, 1, 1), "float32")]
    for bad in bad_inputs:
        for signature in ("serving_default", "encode"):
            with pytest.raises(tf.errors.InvalidArgumentError,
                               match=r"expected shape \[\?,28,28,1\]"):
                signatures[signature](inputs=tf.constant(bad))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"expected shape \[\?,{LATENT_DIM}\]"):
        signatures["decode"](z=tf.zeros((2, LATENT_DIM + 1)))
    # Non-finite values are refused as `fit` refuses them, not turned into
    # a plausible reconstruction.
    for value in (np.nan, np.inf, -np.inf):
        bad = np.full((2, *INPUT_SHAPE), 0.5, "float32")
        bad[1, 3, 4, 0] = value
        for signature in ("serving_default", "encode"):
            with pytest.raises(tf.errors.InvalidArgumentError,
                               match="`inputs` must hold only finite values"):
                signatures[signature](inputs=tf.constant(bad))
        z = np.zeros((2, LATENT_DIM), "float32")
        z[0, 1] = value
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match="`z` must hold only finite values"):
            signatures["decode"](z=tf.constant(z))


def _saved_model_cli():
    script = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]


@pytest.mark.slow
@DEPLOYED
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_saved_model_cli_shows_named_signatures(deployed, kind):
    family = "dense" if "dense" in list_autoencoders() else CASES[0][0]
    case = deployed(family, kind)
    result = subprocess.run(
        [*_saved_model_cli(), "show", "--all", "--dir", case.saved_model_dir],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for signature in ("serving_default", "encode", "decode"):
        assert f"signature_def['{signature}']" in out
    assert "inputs['inputs']" in out and "inputs['z']" in out
    assert "outputs['reconstruction']" in out
    codes = ["z_mean", "z_log_var"] if KINDS[kind] else ["z"]
    for name in codes:
        assert f"outputs['{name}']" in out
    assert "outputs['output_0']" not in out and "args_0" not in out
    assert "shape: (-1, 28, 28, 1)" in out
    assert f"shape: (-1, {LATENT_DIM})" in out
    assert "DT_FLOAT" in out and "DT_DOUBLE" not in out


# --- SavedModel: versions and atomic writes ----------------------------------


def test_versions_count_up_and_existing_version_is_refused(tiny_vae,
                                                           tmp_path):
    first = export.export_saved_model(tiny_vae, tmp_path, "tiny")
    second = export.export_saved_model(tiny_vae, tmp_path, "tiny")
    assert first == os.path.join(tmp_path, "tiny", "1")
    assert second == os.path.join(tmp_path, "tiny", "2")
    assert os.path.isfile(os.path.join(second, "saved_model.pb"))
    before = _tree(tmp_path)
    with pytest.raises(FileExistsError, match=r"tiny.1"):
        export.export_saved_model(tiny_vae, tmp_path, "tiny", version=1)
    assert _tree(tmp_path) == before
    # An explicit free version; the next default one follows the highest.
    assert export.export_saved_model(tiny_vae, tmp_path, "tiny",
                                     version=7).endswith("7")
    assert export.export_saved_model(tiny_vae, tmp_path, "tiny").endswith("8")
    assert sorted(os.listdir(tmp_path / "tiny")) == ["1", "2", "7", "8"]


def _fail_half_way(monkeypatch):
    """Makes the SavedModel write fail after writing part of the files."""
    make_archive = saved_model_lib._make_archive

    def failing_make_archive(model):
        archive = make_archive(model)

        def write_out(filepath, **kwargs):
            with open(os.path.join(filepath, "saved_model.pb"), "wb") as f:
                f.write(b"half")
            raise RuntimeError("disk full")

        archive.write_out = write_out
        return archive

    monkeypatch.setattr(saved_model_lib, "_make_archive", failing_make_archive)


def test_failed_export_leaves_nothing(tiny_ae, tmp_path, monkeypatch):
    _fail_half_way(monkeypatch)
    base_dir = tmp_path / "served"
    with pytest.raises(RuntimeError, match="disk full"):
        export.export_saved_model(tiny_ae, base_dir, "tiny")
    assert not base_dir.exists()
    # In an existing model directory only the earlier version remains.
    monkeypatch.undo()
    export.export_saved_model(tiny_ae, base_dir, "tiny")
    before = _tree(base_dir)
    _fail_half_way(monkeypatch)
    with pytest.raises(RuntimeError, match="disk full"):
        export.export_saved_model(tiny_ae, base_dir, "tiny")
    assert sorted(os.listdir(base_dir / "tiny")) == ["1"]
    assert _tree(base_dir) == before


@pytest.mark.parametrize("arguments,match", [
    ({"name": "a/b"}, "name='a/b'"),
    ({"name": ".."}, "name='..'"),
    ({"name": ""}, "name=''"),
    ({"name": 3}, "name=3"),
    ({"version": 0}, "version=0"),
    ({"version": -1}, "version=-1"),
    ({"version": 1.5}, "version=1.5"),
    ({"version": True}, "version=True"),
    ({"version": "2"}, "version='2'"),
])
def test_export_refuses_bad_arguments_before_writing(tiny_ae, tmp_path,
                                                     arguments, match):
    arguments = {"name": "tiny", **arguments}
    with pytest.raises(ValueError, match=match):
        export.export_saved_model(tiny_ae, tmp_path / "served", **arguments)
    assert not (tmp_path / "served").exists()


def test_export_refuses_a_non_autoencoder(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="Received: model of type Sequential"):
        export.export_saved_model(model, tmp_path, "plain")
    assert not os.listdir(tmp_path)


def test_export_builds_an_unbuilt_model(tiny_ae, tmp_path):
    model = AutoEncoder(tiny_ae.encoder, tiny_ae.decoder)
    assert not model.built
    path = export.export_saved_model(model, tmp_path, "unbuilt")
    assert model.built
    x = np.random.default_rng(0).random((2, 6, 4), dtype="float32")
    loaded = tf.saved_model.load(path)
    out = loaded.signatures["serving_default"](inputs=tf.constant(x))
    assert _max_abs(out["reconstruction"], model.reconstruct(x)) <= 1e-6


def test_export_explains_how_to_build_a_model_of_unknown_shape(tiny_ae,
                                                               tmp_path):
    model = AutoEncoder(tiny_ae.encoder, tiny_ae.decoder)
    model.input_shape_ = (None, 4)
    with pytest.raises(ValueError, match=r"model\.build"):
        export.export_saved_model(model, tmp_path, "unknown")
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("target", ["file", "under_file", "model_dir_file"])
def test_export_refuses_an_unusable_target_before_tracing(tiny_ae, tmp_path,
                                                          monkeypatch, target):
    (tmp_path / "taken").write_text("a file")
    base_dir = tmp_path / ("taken/served" if target == "under_file" else
                           "taken" if target == "file" else "served")
    if target == "model_dir_file":
        base_dir.mkdir()
        (base_dir / "tiny").write_text("a file")
    monkeypatch.setattr(saved_model_lib, "_make_archive", _never_called)
    before = _tree(tmp_path)
    # The same check as every output location (keras_ae.checks).
    with pytest.raises((NotADirectoryError, ValueError), match="is a file"):
        export.export_saved_model(tiny_ae, base_dir, "tiny")
    assert _tree(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_export_refuses_a_read_only_base_dir(tiny_ae, tmp_path):
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match="not writable"):
            export.export_saved_model(tiny_ae, read_only / "served", "tiny")
    finally:
        read_only.chmod(0o755)
    assert not os.listdir(read_only)


def _never_called(*args, **kwargs):
    raise AssertionError("reached after a refused argument")


def test_export_keeps_temporaries_it_cannot_prove_stale(tiny_ae, tmp_path):
    model_dir = tmp_path / "tiny"
    # This process's own write in progress, another machine's, a marked one
    # of a process that is gone, and a user's directory named like one.
    running = export_utils.temporary_directory(_makedirs(model_dir))
    other_host = model_dir / f"{export_utils.TEMP_PREFIX}elsewhere-1-abcd1234"
    _marked(other_host, "elsewhere", 1)
    gone = _dead_pid()
    stale = model_dir / f"{export_utils.TEMP_PREFIX}{_host()}-{gone}-abcd1234"
    _marked(stale, _host(), gone)
    users = model_dir / f"{export_utils.TEMP_PREFIX}{_host()}-{gone}-mine"
    users.mkdir()
    (users / "notes.txt").write_text("a user's directory")
    forged = model_dir / f"{export_utils.TEMP_PREFIX}{_host()}-{gone}-forged"
    _marked(forged, _host(), gone + 1)  # its marker names another process
    (model_dir / "3").mkdir()  # a version directory, even an empty one
    assert export.export_saved_model(tiny_ae, tmp_path, "tiny").endswith("4")
    assert sorted(os.listdir(model_dir)) == sorted(
        ["3", "4", os.path.basename(running), other_host.name, users.name,
         forged.name])
    assert (users / "notes.txt").read_text() == "a user's directory"


def _host():
    return socket.gethostname()


def _dead_pid():
    """The id of a process that has ended."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def _marked(path, host, pid):
    path.mkdir()
    (path / io.TEMP_MARKER).write_text(json.dumps(
        {"keras_ae_temporary": True, "host": host, "pid": pid}))
    (path / "saved_model.pb").write_bytes(b"half")


def _makedirs(path):
    os.makedirs(path)
    return os.fspath(path)


@pytest.mark.slow
def test_a_killed_export_is_cleaned_up_by_the_next(tiny_ae, tmp_path):
    # A fresh process is killed while it writes the SavedModel.
    script = f"""
import os, signal
import keras_ae
from keras_ae.export import saved_model

make_archive = saved_model._make_archive

def killed_while_writing(model):
    archive = make_archive(model)

    def write_out(filepath, **kwargs):
        open(os.path.join(filepath, "saved_model.pb"), "wb").write(b"half")
        os.kill(os.getpid(), signal.SIGKILL)

    archive.write_out = write_out
    return archive

saved_model._make_archive = killed_while_writing
model = keras_ae.build_autoencoder("dense", (6, 4), 3, hidden_units=(8,))
saved_model.export_saved_model(model, {os.fspath(tmp_path)!r}, "tiny")
"""
    killed = subprocess.run([sys.executable, "-c", script], timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert killed.returncode == -9
    model_dir = tmp_path / "tiny"
    (left,) = os.listdir(model_dir)
    assert left.startswith(".")
    assert export.export_saved_model(tiny_ae, tmp_path, "tiny").endswith("1")
    assert os.listdir(model_dir) == ["1"]


def test_feature_map_codes_export_with_their_shape(tmp_path):
    # A code of shape (height, width, channels): `decode` takes it whole.
    keras.utils.set_random_seed(0)
    model = build_autoencoder("conv", INPUT_SHAPE, (7, 7, 2),
                              variational=True, filters=(8, 16), seed=0)
    loaded = tf.saved_model.load(
        export.export_saved_model(model, tmp_path, "map"))
    x = np.random.default_rng(0).random((3, *INPUT_SHAPE), dtype="float32")
    encoded = loaded.signatures["encode"](inputs=tf.constant(x))
    assert {n: tuple(t.shape) for n, t in encoded.items()} == {
        "z_mean": (3, 7, 7, 2), "z_log_var": (3, 7, 7, 2)}
    z = model.encode(x)
    decoded = loaded.signatures["decode"](z=tf.constant(z))["reconstruction"]
    assert _max_abs(decoded, model.decode(z)) <= SAVED_MODEL_TOLERANCE
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"expected shape \[\?,7,7,2\]"):
        loaded.signatures["decode"](z=tf.zeros((3, 98)))
    # int8 calibration data for `decode` are codes of that shape.
    flatbuffer = export.convert_to_tflite(model, signature="decode",
                                          quantization="int8",
                                          representative_data=z)
    runner = export.TFLiteRunner(flatbuffer)
    assert runner(z)["reconstruction"].shape == (3, *INPUT_SHAPE)


# --- TF Serving config and REST parsing --------------------------------------


def test_serving_config_lists_exported_models(tiny_ae, tmp_path):
    export.export_saved_model(tiny_ae, tmp_path, "beta")
    export.export_saved_model(tiny_ae, tmp_path, "alpha", version=3)
    (tmp_path / "empty_model" / "1").mkdir(parents=True)  # no saved_model.pb
    (tmp_path / "not_versioned" / "latest").mkdir(parents=True)
    (tmp_path / "notes.txt").write_text("not a model")
    # A directory whose name TF Serving cannot serve is not listed, even
    # with a SavedModel in it.
    bad_name = tmp_path / "a name\n"
    (bad_name / "1").mkdir(parents=True)
    (bad_name / "1" / "saved_model.pb").write_bytes(b"")
    path = export.write_serving_config(tmp_path)
    assert path == os.path.join(tmp_path, "models.config")
    text = open(path).read()
    # TF Serving's own message, parsed by protobuf as the server does.
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    entries = [(c.name, c.base_path, c.model_platform)
               for c in config.model_config_list.config]
    assert entries == [("alpha", "/models/alpha", "tensorflow"),
                       ("beta", "/models/beta", "tensorflow")]

    with pytest.raises(FileExistsError, match="models.config"):
        export.write_serving_config(tmp_path)
    assert open(path).read() == text
    export.export_saved_model(tiny_ae, tmp_path, "gamma")
    export.write_serving_config(tmp_path, overwrite=True)
    assert 'base_path: "/models/gamma"' in open(path).read()


def test_serving_config_refuses_a_directory_without_models(tmp_path):
    (tmp_path / "something").mkdir()
    with pytest.raises(ValueError, match="holds no exported model"):
        export.write_serving_config(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing"):
        export.write_serving_config(tmp_path / "missing")
    assert sorted(os.listdir(tmp_path)) == ["something"]


def test_rest_request_parsing_follows_tf_serving(tiny_vae, tmp_path):
    loaded = tf.saved_model.load(
        export.export_saved_model(tiny_vae, tmp_path, "tiny"))
    x = np.random.default_rng(0).random((3, 6, 4), dtype="float32")
    row = rest_request_to_tensors({"instances": x.tolist()},
                                         loaded.signatures)
    named = rest_request_to_tensors(
        {"instances": [{"inputs": e} for e in x.tolist()]},
        loaded.signatures["serving_default"])
    columnar = rest_request_to_tensors(
        b'{"signature_name": "encode", "inputs": %s}'
        % json.dumps(x.tolist()).encode(), loaded.signatures)
    for tensors in (row, named, columnar):
        assert list(tensors) == ["inputs"]
        np.testing.assert_array_equal(tensors["inputs"].numpy(), x)
    # Integers in JSON become the signature's float32.
    decoded = rest_request_to_tensors(
        {"signature_name": "decode", "instances": [[0, 1, 2]]},
        loaded.signatures)
    assert decoded["z"].dtype == tf.float32
    out = loaded.signatures["encode"](**columnar)
    response = tensors_to_rest_response(out)
    assert sorted(response["predictions"][0]) == ["z_log_var", "z_mean"]
    assert sorted(tensors_to_rest_response(
        out, columnar=True)["outputs"]) == ["z_log_var", "z_mean"]


@pytest.mark.parametrize("body,match", [
    ({"instances": [[0.0] * 4] * 6, "inputs": [[0.0]]}, "exactly one of"),
    ({}, "exactly one of"),
    ({"instances": []}, "non-empty list"),
    ({"instances": [{"x": 1}]}, "Received: x"),
    ({"instances": [[[0.0] * 4] * 6, [[0.0] * 4] * 5]}, "rectangular"),
    ({"instances": [[[0.0] * 4] * 5]}, r"shape \(batch_size, 6, 4\)"),
    ({"signature_name": "nope", "instances": [1]}, "signature_name='nope'"),
    ({"instance": [1]}, "Unknown key"),
    ("not json", "must be JSON"),
    ([1, 2], "JSON object"),
])
def test_rest_request_parsing_errors(tiny_loaded, body, match):
    with pytest.raises(ValueError, match=match):
        rest_request_to_tensors(body, tiny_loaded.signatures)


# --- TensorFlow Lite ---------------------------------------------------------


def _assert_builtin_only(ops):
    assert ops, "no ops listed"
    assert not [op for op in ops if op.startswith("Flex")], ops
    assert all(op.isupper() and op != "CUSTOM" for op in ops), ops


def _small(family, kind):
    """The family at the contract suite's small size (`tests/settings.py`)."""
    keras.utils.set_random_seed(0)
    shape, options = settings.FAMILIES[family]
    return build_autoencoder(family, shape, settings.LATENT_DIM,
                             variational=KINDS[kind],
                             seed=0 if KINDS[kind] else None, **options)


@pytest.mark.slow
@pytest.mark.parametrize("family,kind", CASES, ids=CASE_IDS)
def test_tflite_encode_and_decode_match_keras_with_builtin_ops(family, kind):
    # The contract suite converts `serving_default`; the other signatures
    # are converted here, at its small sizes, with a dynamic batch.
    model = _small(family, kind)
    rng = np.random.default_rng(0)
    for signature in ("encode", "decode"):
        flatbuffer = export.convert_to_tflite(model, signature=signature)
        _assert_builtin_only(export.tflite_ops(flatbuffer))
        runner = export.TFLiteRunner(flatbuffer)
        assert runner.signature == signature
        for batch in (1, 9):  # the batch dimension stays dynamic
            x = rng.random((batch, *model.input_shape_), dtype="float32")
            inputs = model.encode(x) if signature == "decode" else x
            outputs = runner(inputs)
            expected = _keras_outputs(model, signature, inputs)
            assert sorted(outputs) == sorted(expected)
            for name, value in outputs.items():
                assert value.dtype == np.float32
                assert _max_abs(value, expected[name]) <= TFLITE_FLOAT_TOLERANCE


@pytest.mark.slow
@DEPLOYED
@pytest.mark.parametrize("quantization", ["dynamic", "float16", "int8"])
@pytest.mark.parametrize("family,kind", CASES, ids=CASE_IDS)
def test_tflite_quantized_runs_within_bounds(deployed, digits, family, kind,
                                             quantization):
    case = deployed(family, kind)
    x_train, _ = digits
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        flatbuffer = export.convert_to_tflite(
            case.saved_model_dir, quantization=quantization,
            representative_data=x_train if quantization == "int8" else None)
    ops = export.tflite_ops(flatbuffer)
    _assert_builtin_only(ops)
    # The quantization took place.
    runner = export.TFLiteRunner(flatbuffer)
    dtypes = {d["dtype"] for d in runner._interpreter.get_tensor_details()}
    if quantization == "int8":
        # int8 activations, entered and left through QUANTIZE/DEQUANTIZE.
        # (Not always smaller: an unrolled LSTM's hundreds of intermediate
        # tensors each carry quantization parameters.)
        assert np.int8 in dtypes and "QUANTIZE" in ops
    else:
        assert (np.int8 if quantization == "dynamic" else np.float16) in dtypes
        assert len(flatbuffer) < len(case.float_flatbuffer())
    output = runner(case.x)["reconstruction"]
    # A model that XNNPACK cannot prepare (seen: int8 LSTM) runs with the
    # builtin kernels, and the conversion said so.
    warned = any("XNNPACK" in str(w.message) for w in caught)
    assert warned == (runner.delegate == "none")
    error = np.abs(output - case.model.reconstruct(case.x))
    max_bound, mean_bound = QUANTIZED_TOLERANCES[quantization]
    assert error.max() <= max_bound, (error.max(), error.mean())
    assert error.mean() <= mean_bound, (error.max(), error.mean())


def test_tflite_from_a_keras_model_writes_once(tiny_vae, tmp_path):
    output = tmp_path / "models" / "tiny.tflite"
    assert export.convert_to_tflite(tiny_vae, signature="encode",
                                    output_path=output) == os.fspath(output)
    written = output.read_bytes()
    x = np.random.default_rng(0).random((4, 6, 4), dtype="float32")
    outputs = export.run_tflite(output, x)
    z_mean, z_log_var = tiny_vae.encode_distribution(x)
    assert _max_abs(outputs["z_mean"], z_mean) <= TFLITE_FLOAT_TOLERANCE
    assert _max_abs(outputs["z_log_var"], z_log_var) <= TFLITE_FLOAT_TOLERANCE
    with pytest.raises(FileExistsError, match="tiny.tflite"):
        export.convert_to_tflite(tiny_vae, output_path=output)
    assert output.read_bytes() == written
    assert os.listdir(output.parent) == ["tiny.tflite"]  # no temp file left


def _sampling_saved_model(model, directory):
    """A SavedModel whose serving function samples z (training=True)."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        lambda inputs: {"reconstruction": model(inputs, training=True)},
        input_signature=[tf.TensorSpec((None, *model.input_shape_),
                                       tf.float32, name="inputs")])
    archive.write_out(directory, verbose=False)
    return directory


def test_tflite_refuses_flex_ops_naming_them(tiny_vae, tmp_path):
    saved_model = _sampling_saved_model(tiny_vae, str(tmp_path / "sampling"))
    output = tmp_path / "sampling.tflite"
    with pytest.raises(export.UnsupportedOpsError,
                       match="FlexStatelessRandomNormalV2") as info:
        export.convert_to_tflite(saved_model, output_path=output)
    assert "FlexStatelessRandomNormalV2" in info.value.ops
    assert all(op.startswith("Flex") for op in info.value.ops)
    assert not output.exists()


@pytest.mark.slow
def test_tflite_refuses_a_rolled_lstm_with_dynamic_batch(tmp_path):
    model = build_autoencoder("lstm", (5, 3), 2, units=(4,), unroll=False)
    with pytest.raises(export.UnsupportedOpsError, match="Flex"):
        export.convert_to_tflite(model, output_path=tmp_path / "lstm.tflite")
    assert not os.listdir(tmp_path)


def test_tflite_checks_the_op_list_after_conversion(tiny_ae, tmp_path,
                                                    monkeypatch):
    monkeypatch.setattr(tflite_lib, "tflite_ops",
                        lambda flatbuffer: ["FULLY_CONNECTED", "FlexErf",
                                            "MyCustomOp"])
    with pytest.raises(export.UnsupportedOpsError,
                       match="FlexErf, MyCustomOp"):
        export.convert_to_tflite(tiny_ae, output_path=tmp_path / "m.tflite")
    assert not os.listdir(tmp_path)


def test_tflite_ops_lists_builtin_names(tiny_ae):
    # ReLU is fused into FULLY_CONNECTED; the batch size is read at run time.
    assert export.tflite_ops(export.convert_to_tflite(tiny_ae)) == [
        "FULLY_CONNECTED", "LOGISTIC", "PACK", "RESHAPE", "SHAPE",
        "STRIDED_SLICE"]
    with pytest.raises(ValueError, match="not a TensorFlow Lite model"):
        export.tflite_ops(b"garbage" * 4)


@pytest.mark.parametrize("arguments,error,match", [
    ({"quantization": "int4"}, ValueError,
     r"quantization='int4'; allowed: None, 'dynamic', 'float16', 'int8'"),
    ({"quantization": "int8"}, ValueError, "representative_data=None"),
    ({"quantization": "int8", "representative_data": np.zeros((10, 5, 4))},
     ValueError, r"shape \(num_examples, 6, 4\)"),
    ({"quantization": "dynamic", "representative_data": np.zeros((10, 6, 4))},
     ValueError, "only with quantization='int8'"),
    ({"signature": "sample"}, ValueError, "signature='sample'"),
])
def test_tflite_refuses_bad_arguments(tiny_ae, tmp_path, arguments, error,
                                      match):
    with pytest.raises(error, match=match):
        export.convert_to_tflite(tiny_ae, output_path=tmp_path / "m.tflite",
                                 **arguments)
    assert not os.listdir(tmp_path)


def test_tflite_refuses_a_missing_model_file(tmp_path):
    missing = tmp_path / "missing.keras"
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        export.convert_to_tflite(missing)
    with pytest.raises(ValueError, match="without saved_model.pb"):
        export.convert_to_tflite(tmp_path)


@pytest.mark.parametrize("target,error,match", [
    ("taken.tflite", FileExistsError, "already exists"),
    ("taken.tflite/m.tflite", NotADirectoryError, "must be a file in a directory, "
     ".*taken.tflite. is a file"),
])
def test_tflite_refuses_an_unusable_output_path_before_converting(
        tiny_ae, tmp_path, monkeypatch, target, error, match):
    (tmp_path / "taken.tflite").write_bytes(b"keep me")
    monkeypatch.setattr(tflite_lib, "_convert", _never_called)
    before = _tree(tmp_path)
    with pytest.raises(error, match=match):
        export.convert_to_tflite(tiny_ae, output_path=tmp_path / target)
    assert _tree(tmp_path) == before


def test_a_failed_conversion_names_the_signature(tiny_ae, tmp_path,
                                                 monkeypatch):
    class FailingConverter:
        def convert(self):
            raise RuntimeError("<unknown>:0: error: 'tf.Unsupported' op failed")

    monkeypatch.setattr(tflite_lib, "_converter",
                        lambda *args, **kwargs: FailingConverter())
    with pytest.raises(ValueError, match=(
            r"conversion of signature 'decode' failed \(quantization="
            r"'float16'\): <unknown>:0: error: 'tf.Unsupported'")):
        export.convert_to_tflite(tiny_ae, signature="decode",
                                 quantization="float16",
                                 output_path=tmp_path / "m.tflite")
    assert not os.listdir(tmp_path)


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_runner_quantizes_int8_inputs_and_outputs(tiny_ae, tmp_path):
    saved_model = export.export_saved_model(tiny_ae, tmp_path, "tiny")
    rng = np.random.default_rng(0)
    data = rng.random((100, 6, 4), dtype="float32")
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model, signature_keys=["serving_default"])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: (
        {"inputs": data[i:i + 1]} for i in range(len(data)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    runner = export.TFLiteRunner(converter.convert())
    assert runner.input_details["inputs"]["dtype"] == np.int8
    assert runner.output_details["reconstruction"]["dtype"] == np.int8
    x = rng.random((5, 6, 4), dtype="float32")
    output = runner(x)["reconstruction"]
    assert output.dtype == np.float32
    # Sigmoid outputs: int8 steps of 1/256, plus the error of int8 weights.
    assert _max_abs(output, tiny_ae.reconstruct(x)) <= 0.05


def test_runner_refuses_wrong_shapes(tiny_ae):
    runner = export.TFLiteRunner(export.convert_to_tflite(tiny_ae))
    with pytest.raises(ValueError, match=r"shape \(batch_size, 6, 4\)"):
        runner(np.zeros((2, 5, 4)))
    with pytest.raises(ValueError, match="Received: x"):
        runner({"x": np.zeros((2, 6, 4))})


def test_runner_without_xnnpack_gives_the_same_outputs(tiny_ae):
    flatbuffer = export.convert_to_tflite(tiny_ae)
    x = np.random.default_rng(0).random((3, 6, 4), dtype="float32")
    default = export.TFLiteRunner(flatbuffer)
    plain = export.TFLiteRunner(flatbuffer, use_xnnpack=False)
    assert plain.delegate == "none"
    assert _max_abs(default(x)["reconstruction"],
                    plain(x)["reconstruction"]) <= 1e-6


# --- Command line ------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_keras_models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("keras_models")
    keras.utils.set_random_seed(0)
    digits_model = build_autoencoder("dense", INPUT_SHAPE, 2,
                                     variational=True, hidden_units=(16,))
    digits_model.save(directory / "digits_vae.keras")
    build_autoencoder("dense", (6, 4), 3, hidden_units=(8,)).save(
        directory / "tiny.keras")
    return directory


def test_cli_export_writes_versions_and_config(saved_keras_models, tmp_path,
                                               capsys):
    model = os.fspath(saved_keras_models / "digits_vae.keras")
    base_dir = os.fspath(tmp_path / "served")
    assert cli.main(["export", model, "--base-dir", base_dir]) == 0
    assert cli.main(["export", model, "--base-dir", base_dir]) == 0
    out = capsys.readouterr().out
    assert os.path.join(base_dir, "digits_vae", "2") in out
    assert sorted(os.listdir(os.path.join(base_dir, "digits_vae"))) == ["1",
                                                                        "2"]
    config = open(os.path.join(base_dir, "models.config")).read()
    assert 'base_path: "/models/digits_vae"' in config
    loaded = tf.saved_model.load(os.path.join(base_dir, "digits_vae", "1"))
    assert sorted(loaded.signatures["encode"].structured_outputs) == [
        "z_log_var", "z_mean"]


def test_cli_export_keeps_a_hand_written_config(saved_keras_models, tmp_path,
                                                capsys):
    (tmp_path / "models.config").write_text("model_config_list {}\n")
    model = os.fspath(saved_keras_models / "tiny.keras")
    assert cli.main(["export", model, "--base-dir", os.fspath(tmp_path),
                     "--name", "custom", "--version", "4"]) == 0
    assert (tmp_path / "custom" / "4" / "saved_model.pb").exists()
    assert (tmp_path / "models.config").read_text() == "model_config_list {}\n"
    assert "left unchanged" in capsys.readouterr().out


@pytest.mark.parametrize("arguments,match", [
    (["missing.keras"], "missing.keras"),
    (["tiny.keras", "--version", "0"], "version=0"),
    (["tiny.keras", "--name", "../up"], "name='../up'"),
    (["tiny.keras", "--version", "1"], "already exists"),
])
def test_cli_export_bad_input_exits_2_writing_nothing(saved_keras_models,
                                                      tmp_path, capsys,
                                                      arguments, match):
    base_dir = tmp_path / "served"
    model = os.fspath(saved_keras_models / "tiny.keras")
    if "already exists" == match:
        export.export_saved_model(export.load_keras_model(model), base_dir,
                                  "tiny", version=1)
    before = _tree(tmp_path)
    arguments = [os.fspath(saved_keras_models / arguments[0]), *arguments[1:]]
    assert cli.main(["export", *arguments, "--base-dir",
                     os.fspath(base_dir)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("keras_ae export: error:") and match in error
    assert len(error.strip().splitlines()) == 1
    assert _tree(tmp_path) == before


def test_cli_convert_writes_float_and_int8(saved_keras_models, tmp_path,
                                           capsys):
    model = tmp_path / "digits_vae.keras"
    model.write_bytes((saved_keras_models / "digits_vae.keras").read_bytes())
    assert cli.main(["convert", os.fspath(model)]) == 0
    assert cli.main(["convert", os.fspath(model), "--quantization",
                     "int8"]) == 0
    out = capsys.readouterr().out
    float_path = tmp_path / "digits_vae.tflite"
    int8_path = tmp_path / "digits_vae_int8.tflite"
    assert os.fspath(float_path) in out and os.fspath(int8_path) in out
    x = load_digits()[1][0][:4]
    reference = export.load_keras_model(model).reconstruct(x)
    int8_tolerance = QUANTIZED_TOLERANCES["int8"][0]
    for path, tolerance in ((float_path, 1e-4), (int8_path, int8_tolerance)):
        _assert_builtin_only(export.tflite_ops(path))
        assert _max_abs(export.run_tflite(path, x)["reconstruction"],
                        reference) <= tolerance
    # From a SavedModel version directory: next to it, named after it.
    saved_model = export.export_saved_model(
        export.load_keras_model(model), tmp_path / "served", "vae")
    assert cli.main(["convert", saved_model, "--signature", "decode",
                     "--quantization", "float16"]) == 0
    assert (tmp_path / "served" / "vae" / "vae_v1_float16.tflite").exists()


@pytest.mark.parametrize("arguments,match", [
    (["missing.keras"], "missing.keras"),
    (["tiny.keras", "--quantization", "int8"], "embedded digits"),
    (["tiny.keras", "--output", "taken.tflite"], "already exists"),
])
def test_cli_convert_bad_input_exits_2_writing_nothing(saved_keras_models,
                                                       tmp_path, capsys,
                                                       arguments, match):
    model = tmp_path / "tiny.keras"
    model.write_bytes((saved_keras_models / "tiny.keras").read_bytes())
    (tmp_path / "taken.tflite").write_bytes(b"keep me")
    before = _tree(tmp_path)
    arguments = [os.fspath(tmp_path / arguments[0]), *arguments[1:]]
    if "--output" in arguments:
        i = arguments.index("--output") + 1
        arguments[i] = os.fspath(tmp_path / arguments[i])
    assert cli.main(["convert", *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("keras_ae convert: error:") and match in error
    assert _tree(tmp_path) == before


def test_cli_convert_rejects_unknown_quantization(saved_keras_models, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["convert", os.fspath(saved_keras_models / "tiny.keras"),
                  "--quantization", "int4"])
    assert info.value.code == 2
    assert "invalid choice: 'int4'" in capsys.readouterr().err


def test_cli_export_refuses_a_file_as_base_dir_before_loading(
        saved_keras_models, tmp_path, capsys, monkeypatch):
    (tmp_path / "served").write_text("a file")
    monkeypatch.setattr(export, "load_keras_model", _never_called)
    before = _tree(tmp_path)
    assert cli.main(["export", os.fspath(saved_keras_models / "tiny.keras"),
                     "--base-dir", os.fspath(tmp_path / "served")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("keras_ae export: error: `--base-dir`")
    assert "is a file" in error and len(error.strip().splitlines()) == 1
    assert _tree(tmp_path) == before


def test_load_keras_model_says_what_a_bad_file_is(tmp_path):
    text = tmp_path / "notes.keras"
    text.write_text("not a model")
    with pytest.raises(ValueError, match="is not a .keras model"):
        export.load_keras_model(text)


# --- Servers can read the exports; damaged files; one writer ------------------


def _modes(path):
    """{relative path: permission bits} of `path` and everything under it."""
    modes = {".": os.stat(path).st_mode & 0o777}
    for root, directories, files in os.walk(path):
        for name in directories + files:
            full = os.path.join(root, name)
            modes[os.path.relpath(full, path)] = os.stat(full).st_mode & 0o777
    return modes


@pytest.mark.parametrize("umask, directory, file", [(0o022, 0o755, 0o644),
                                                     (0o077, 0o700, 0o600)])
def test_exports_follow_the_umask_so_a_server_can_read_them(
        tiny_ae, tmp_path, umask, directory, file):
    previous = os.umask(umask)
    try:
        version = export.export_saved_model(tiny_ae, tmp_path, "tiny")
        config = export.write_serving_config(tmp_path)
        tflite = export.convert_to_tflite(
            version, output_path=tmp_path / "tiny" / "tiny.tflite")
    finally:
        os.umask(previous)
    modes = _modes(version)
    assert {mode for name, mode in modes.items()
            if os.path.isdir(os.path.join(version, name))} == {directory}
    assert {mode for name, mode in modes.items()
            if os.path.isfile(os.path.join(version, name))} == {file}
    assert os.stat(config).st_mode & 0o777 == file
    assert os.stat(tflite).st_mode & 0o777 == file


def test_runner_refuses_what_fit_refuses(tiny_ae):
    runner = export.TFLiteRunner(export.convert_to_tflite(tiny_ae))
    x = np.random.default_rng(0).random((2, 6, 4), dtype="float32")
    for bad, match in (((x * 255).astype("uint8"), "pass inputs / 255.0"),
                       (np.where(x > 0.5, np.nan, x), "must hold only finite"),
                       (np.where(x > 0.5, np.inf, x), "must hold only finite"),
                       (np.full((2, 6, 4), "a"), "must be an array of numbers"),
                       (x[:0], "at least one example")):
        with pytest.raises(ValueError, match=match):
            runner(bad)
    np.testing.assert_allclose(runner(x)["reconstruction"],
                               tiny_ae.reconstruct(x), atol=1e-4)


def test_a_damaged_tflite_model_is_named(tiny_ae, tmp_path):
    flatbuffer = export.convert_to_tflite(tiny_ae)
    (tmp_path / "torn.tflite").write_bytes(flatbuffer[:len(flatbuffer) // 3])
    (tmp_path / "text.tflite").write_text("not a model\n")
    for damaged in (b"garbage" * 8, tmp_path / "torn.tflite",
                    tmp_path / "text.tflite"):
        with pytest.raises(ValueError, match="is not a TensorFlow Lite model"):
            export.TFLiteRunner(damaged)


@pytest.mark.parametrize("damage", ["truncated-graph", "no-variables"])
def test_a_damaged_saved_model_is_named(tiny_ae, tmp_path, damage):
    version = export.export_saved_model(tiny_ae, tmp_path, "tiny")
    graph = os.path.join(version, "saved_model.pb")
    if damage == "truncated-graph":
        with open(graph, "r+b") as f:
            f.truncate(os.path.getsize(graph) // 2)
    else:
        shutil.rmtree(os.path.join(version, "variables"))
    with pytest.raises(ValueError, match="`model` is a damaged SavedModel"):
        export.convert_to_tflite(version)


def _rewritten(source, target, change):
    """A copy of the zip `source` with its members changed by `change(dict)`."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    change(members)
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


@pytest.mark.parametrize("damage, match", [
    ("config-not-json", "its config.json is not valid JSON"),
    ("no-weights", "it holds no weights"),
    ("torn-weights", "its weights .* are not an HDF5 file"),
    ("truncated-weights", "its weights are damaged"),
    ("other-architecture", "its weights do not fit the model its config"),
    ("unknown-family", "its config does not describe a keras_ae model: "
     "Unknown `family`"),
])
def test_load_keras_model_names_what_is_damaged(saved_keras_models, tmp_path,
                                                damage, match):
    source = saved_keras_models / "tiny.keras"
    other = tmp_path / "other.keras"
    build_autoencoder("dense", (6, 4), 3, hidden_units=(5,)).save(other)
    with zipfile.ZipFile(other) as archive:
        other_weights = archive.read("model.weights.h5")
    changes = {
        "config-not-json": lambda m: m.update({"config.json": b"{not json"}),
        "no-weights": lambda m: m.pop("model.weights.h5"),
        "torn-weights": lambda m: m.update({"model.weights.h5": b"torn"}),
        "truncated-weights": lambda m: m.update(
            {"model.weights.h5": m["model.weights.h5"][:300]}),
        "other-architecture": lambda m: m.update(
            {"model.weights.h5": other_weights}),
        "unknown-family": lambda m: m.update({"config.json": m[
            "config.json"].replace(b'"dense"', b'"densest"')}),
    }
    damaged = _rewritten(source, tmp_path / "damaged.keras", changes[damage])
    with pytest.raises(ValueError, match=f"is a damaged .keras model: {match}"):
        export.load_keras_model(damaged)


def test_a_second_writer_of_a_served_model_is_refused_at_once(tiny_ae,
                                                              tmp_path):
    export.export_saved_model(tiny_ae, tmp_path, "tiny")
    before = _tree(tmp_path)
    with held(tmp_path / "tiny") as holder:
        started = time.monotonic()
        with pytest.raises(io.LockedError,
                           match=rf"is being written by process {holder.pid}"):
            export.export_saved_model(tiny_ae, tmp_path, "tiny")
        assert time.monotonic() - started < 5  # refused at once, not waited
        assert _tree(tmp_path) == before
    # Its process gone (killed), the lock is free: no stale lock is left.
    assert export.export_saved_model(tiny_ae, tmp_path, "tiny").endswith("2")
