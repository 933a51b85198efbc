"""What is special to the conv, lstm and transformer families.

The contract every family keeps (shapes, training, config and `.keras` round
trips) lives in `test_contract.py`; these tests check each family's own
options, input shapes and errors.
"""

import keras
import numpy as np
import pytest

import keras_ae
from keras_ae.families.transformer import ClassToken
from keras_ae.families.transformer import PositionalEmbedding
from keras_ae.families.transformer import TransformerBlock

LATENT_DIM = 4


def layers_of(model, layer_type):
    return [layer for layer in model.layers if isinstance(layer, layer_type)]


@pytest.fixture
def images(rng):
    def make(*shape, batch_size=3):
        return rng.random((batch_size, *shape), dtype="float32")

    return make


# === conv ===


@pytest.mark.parametrize("variational", [False, True], ids=["ae", "vae"])
def test_conv_on_rgb_images_keeps_their_shape(images, variational):
    model = keras_ae.build_autoencoder("conv", (32, 32, 3), LATENT_DIM,
                                       variational=variational)
    x = images(32, 32, 3)
    assert model(x).shape == (3, 32, 32, 3)
    # Two stride-2 convolutions: an 8 x 8 map of filters[-1] = 64 channels.
    backbone_features = model.encoder.get_layer("flatten").output
    assert backbone_features.shape == (None, 8 * 8 * 64)
    assert model.decoder.get_layer("output").filters == 3


def test_conv_depth_follows_filters():
    model = keras_ae.build_autoencoder("conv", (32, 32, 1), LATENT_DIM,
                                       filters=(8, 16, 32), residual_blocks=0)
    convs = layers_of(model.encoder, keras.layers.Conv2D)
    assert [c.filters for c in convs] == [8, 16, 32]
    assert all(c.strides == (2, 2) for c in convs)
    # The decoder mirrors the encoder: each doubling gives the map the
    # channels the encoder had at that size, filters[0] at full size.
    transposed = layers_of(model.decoder, keras.layers.Conv2DTranspose)
    assert [c.filters for c in transposed] == [16, 8, 8]
    assert model.decoder.get_layer("decoder_reshape").output.shape == (None, 4, 4, 32)


def test_conv_residual_blocks_sit_on_the_smallest_map():
    model = keras_ae.build_autoencoder("conv", (28, 28, 1), LATENT_DIM,
                                       filters=(8, 16), residual_blocks=2)
    for part, prefix in ((model.encoder, "encoder"), (model.decoder, "decoder")):
        adds = [l for l in part.layers if isinstance(l, keras.layers.Add)]
        assert [l.name for l in adds] == [f"{prefix}_residual_0_add",
                                          f"{prefix}_residual_1_add"]
        assert all(tuple(l.output.shape) == (None, 7, 7, 16) for l in adds)
    none = keras_ae.build_autoencoder("conv", (28, 28, 1), LATENT_DIM,
                                      filters=(8, 16), residual_blocks=0)
    assert not layers_of(none.encoder, keras.layers.Add)


@pytest.mark.parametrize("variational", [False, True], ids=["ae", "vae"])
def test_conv_feature_map_code(images, variational):
    model = keras_ae.build_autoencoder("conv", (28, 28, 1), (7, 7, 3),
                                       variational=variational,
                                       filters=(8, 16))
    x = images(28, 28, 1)
    assert model.code_shape == (7, 7, 3)
    assert model.encode(x).shape == (3, 7, 7, 3)
    assert model(x).shape == (3, 28, 28, 1)
    head = model.encoder.get_layer("z_mean" if variational else "z")
    assert isinstance(head, keras.layers.Conv2D) and head.kernel_size == (1, 1)
    assert not [l for l in model.encoder.layers if isinstance(l, keras.layers.Flatten)]
    if variational:
        assert model.sample(2, seed=0).shape == (2, 28, 28, 1)


@pytest.mark.parametrize("latent_dim, match", [
    ((14, 14, 4), r"height and width of the encoder's smallest map, 7 x 7 .*"
                  r"Received: latent_dim=\(14, 14, 4\); use latent_dim=\(7, 7, channels\)"),
    ((7, 7), r"`latent_dim` must be an int .* or a tuple \(height, width, "
             r"channels\) .* Received: latent_dim=\(7, 7\)"),
    ((7, 7, 0), r"latent_dim=\(7, 7, 0\)"),
])
def test_conv_refuses_a_map_code_that_does_not_fit(latent_dim, match):
    with pytest.raises(ValueError, match=match):
        keras_ae.build_autoencoder("conv", (28, 28, 1), latent_dim)


@pytest.mark.parametrize("family", ["dense", "lstm", "transformer"])
def test_families_without_map_codes_refuse_one(family):
    with pytest.raises(ValueError, match=rf"Family '{family}' takes vector codes "
                       r"only.*Received: latent_dim=\(7, 7, 2\); feature-map "
                       r"codes are taken by families conv"):
        keras_ae.build_autoencoder(family, (28, 28, 1), (7, 7, 2))


def test_conv_accepts_grayscale_without_channel_axis(images):
    model = keras_ae.build_autoencoder("conv", (28, 28), LATENT_DIM)
    assert model(images(28, 28)).shape == (3, 28, 28)
    assert model.encoder.get_layer("add_channel").output.shape == (None, 28, 28, 1)


@pytest.mark.parametrize(
    "input_shape, filters, depth",
    [((30, 30, 1), (32, 64), 2), ((28, 28, 1), (8, 16, 32), 3),
     ((32, 20, 3), (8, 16, 32), 3)],
)
def test_conv_refuses_a_shape_that_depth_does_not_divide(input_shape, filters,
                                                         depth):
    with pytest.raises(ValueError) as error:
        keras_ae.build_autoencoder("conv", input_shape, LATENT_DIM,
                                   filters=filters)
    message = str(error.value)
    assert f"input_shape={input_shape}" in message
    assert f"depth = len(filters) = {depth}" in message


def test_conv_batch_norm_option():
    plain = keras_ae.build_autoencoder("conv", (16, 16, 1), LATENT_DIM,
                                       filters=(4, 8))
    normed = keras_ae.build_autoencoder("conv", (16, 16, 1), LATENT_DIM,
                                        filters=(4, 8), batch_norm=True)
    for model in (plain, normed):
        assert model(np.zeros((2, 16, 16, 1), "float32")).shape == (2, 16, 16, 1)
    assert not layers_of(plain.encoder, keras.layers.BatchNormalization)
    assert not layers_of(plain.decoder, keras.layers.BatchNormalization)
    # A batch norm follows each hidden convolution (2 strided, 2 in the
    # residual block), which then has no bias.
    assert len(layers_of(normed.encoder, keras.layers.BatchNormalization)) == 4
    assert len(layers_of(normed.decoder, keras.layers.BatchNormalization)) == 4
    hidden = (layers_of(normed.encoder, keras.layers.Conv2D)
              + layers_of(normed.decoder, keras.layers.Conv2DTranspose))
    assert [c.use_bias for c in hidden] == [False] * 6
    assert normed.decoder.get_layer("output").use_bias


@pytest.mark.parametrize(
    "options, match",
    [({"filters": ()}, r"filters=\(\)"),
     ({"filters": (8, 0)}, r"filters=\(8, 0\)"),
     ({"kernel_size": 0}, "kernel_size=0"),
     ({"residual_blocks": -1}, "residual_blocks=-1"),
     ({"batch_norm": "yes"}, "batch_norm='yes'")],
)
def test_conv_refuses_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        keras_ae.build_autoencoder("conv", (16, 16, 1), LATENT_DIM, **options)


@pytest.mark.parametrize("input_shape", [(28,), (2, 16, 16, 1)])
def test_conv_refuses_other_ranks(input_shape):
    with pytest.raises(ValueError, match=r"\(height, width, channels\)"):
        keras_ae.build_autoencoder("conv", input_shape, LATENT_DIM)


# === lstm ===

ONE_WAY = {"bidirectional": False, "pooling": "last"}


@pytest.mark.parametrize(
    "input_shape, sequence_shape",
    [((28, 28), (28, 28)), ((28, 28, 1), (28, 28)), ((12, 5), (12, 5)),
     ((6, 4, 3), (6, 12))],
)
def test_lstm_reads_sequences_and_images_row_by_row(images, input_shape,
                                                    sequence_shape):
    model = keras_ae.build_autoencoder("lstm", input_shape, LATENT_DIM,
                                       units=(8,), **ONE_WAY)
    assert model(images(*input_shape)).shape == (3, *input_shape)
    lstm = model.encoder.get_layer("encoder_lstm_0")
    assert tuple(lstm.input.shape[1:]) == sequence_shape
    assert model.decoder.get_layer("repeat").n == sequence_shape[0]
    assert model.decoder.get_layer("output").units == sequence_shape[1]


def test_lstm_stacks_units_and_mirrors_them():
    model = keras_ae.build_autoencoder("lstm", (10, 3), LATENT_DIM,
                                       units=(16, 8), **ONE_WAY)
    encoder = layers_of(model.encoder, keras.layers.LSTM)
    decoder = layers_of(model.decoder, keras.layers.LSTM)
    assert [(l.units, l.return_sequences) for l in encoder] == [(16, True), (8, False)]
    assert [(l.units, l.return_sequences) for l in decoder] == [(8, True), (16, True)]
    assert model.encoder.get_layer("encoder_lstm_1").output.shape == (None, 8)


def test_lstm_bidirectional_option(images):
    model = keras_ae.build_autoencoder("lstm", (10, 3), LATENT_DIM,
                                       units=(8,), bidirectional=True,
                                       pooling="last")
    assert model(images(10, 3)).shape == (3, 10, 3)
    wrapped = layers_of(model.encoder, keras.layers.Bidirectional)
    assert len(wrapped) == 1
    # The features concatenate the last states of both directions.
    assert wrapped[0].output.shape == (None, 16)
    assert len(layers_of(model.decoder, keras.layers.Bidirectional)) == 1
    plain = keras_ae.build_autoencoder("lstm", (10, 3), LATENT_DIM, units=(8,),
                                       **ONE_WAY)
    assert not layers_of(plain.encoder, keras.layers.Bidirectional)


def test_lstm_flatten_pooling_keeps_every_step():
    model = keras_ae.build_autoencoder("lstm", (10, 3), LATENT_DIM, units=(8,))
    assert keras_ae.family_options("lstm")["pooling"] == "flatten"
    # Both directions' states of all 10 steps, side by side.
    assert model.encoder.get_layer("features").output.shape == (None, 10 * 16)
    last = keras_ae.build_autoencoder("lstm", (10, 3), LATENT_DIM, units=(8,),
                                      pooling="last")
    assert last.encoder.get_layer("z").input.shape == (None, 16)


def test_lstm_unrolls_by_default_for_tflite():
    assert keras_ae.family_options("lstm")["unroll"] is True
    unrolled = keras_ae.build_autoencoder("lstm", (6, 2), LATENT_DIM, units=(4,),
                                          **ONE_WAY)
    looped = keras_ae.build_autoencoder("lstm", (6, 2), LATENT_DIM, units=(4,),
                                        unroll=False, **ONE_WAY)
    lstms = (layers_of(unrolled.encoder, keras.layers.LSTM)
             + layers_of(unrolled.decoder, keras.layers.LSTM))
    assert lstms and all(layer.unroll for layer in lstms)
    assert not any(layer.unroll for layer in
                   layers_of(looped.encoder, keras.layers.LSTM)
                   + layers_of(looped.decoder, keras.layers.LSTM))


def test_lstm_step_embedding_option():
    with_steps = keras_ae.build_autoencoder("lstm", (6, 2), LATENT_DIM,
                                            units=(4,))
    without = keras_ae.build_autoencoder("lstm", (6, 2), LATENT_DIM,
                                         units=(4,), step_embedding=False)
    embedding = with_steps.decoder.get_layer("step_embedding")
    assert tuple(embedding.embedding.shape) == (6, 4)
    assert not layers_of(without.decoder, PositionalEmbedding)
    assert with_steps.count_params() - without.count_params() == 6 * 4


@pytest.mark.parametrize(
    "options, match",
    [({"units": ()}, r"units=\(\)"), ({"units": 8}, "units=8"),
     ({"units": (8, -1)}, r"units=\(8, -1\)"),
     ({"bidirectional": 1}, "bidirectional=1"), ({"unroll": None}, "unroll=None"),
     ({"pooling": "mean"}, "Received: pooling='mean'; allowed: 'last', 'flatten'")],
)
def test_lstm_refuses_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        keras_ae.build_autoencoder("lstm", (6, 2), LATENT_DIM, **options)


@pytest.mark.parametrize("input_shape", [(28,), (2, 6, 6, 1)])
def test_lstm_refuses_other_ranks(input_shape):
    with pytest.raises(ValueError, match=r"\(timesteps, features\)"):
        keras_ae.build_autoencoder("lstm", input_shape, LATENT_DIM)


# === transformer ===

SMALL = {"embed_dim": 16, "num_heads": 2, "mlp_dim": 32, "num_layers": 1}


@pytest.mark.parametrize(
    "input_shape, patch_size, num_tokens",
    [((28, 28, 1), 7, 16), ((28, 28, 1), 4, 49), ((32, 32, 3), 8, 16)],
)
def test_transformer_cuts_images_into_patches(images, input_shape, patch_size,
                                              num_tokens):
    model = keras_ae.build_autoencoder("transformer", input_shape, LATENT_DIM,
                                       patch_size=patch_size, **SMALL)
    assert model(images(*input_shape)).shape == (3, *input_shape)
    assert model.encoder.get_layer("tokens").output.shape == (None, num_tokens, 16)
    positions = model.decoder.get_layer("decoder_positions")
    assert tuple(positions.embedding.shape) == (num_tokens, 16)
    head = model.decoder.get_layer("output")
    assert head.kernel_size == head.strides == (patch_size, patch_size)


@pytest.mark.parametrize("input_shape, patch_size",
                         [((28, 28, 1), 5), ((32, 24, 3), 16)])
def test_transformer_refuses_a_patch_size_that_does_not_divide(input_shape,
                                                               patch_size):
    with pytest.raises(ValueError) as error:
        keras_ae.build_autoencoder("transformer", input_shape, LATENT_DIM,
                                   patch_size=patch_size, **SMALL)
    message = str(error.value)
    assert f"patch_size={patch_size}" in message
    assert f"input_shape={input_shape}" in message


def test_transformer_takes_one_token_per_time_step(images):
    model = keras_ae.build_autoencoder("transformer", (20, 5), LATENT_DIM,
                                       **SMALL)
    assert model(images(20, 5)).shape == (3, 20, 5)
    assert model.encoder.get_layer("step_embedding").output.shape == (None, 20, 16)
    assert model.decoder.get_layer("decoder_positions").num_tokens == 20
    assert model.decoder.get_layer("output").units == 5
    assert not layers_of(model.encoder, keras.layers.Conv2D)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_transformer_pooling(images, pooling):
    model = keras_ae.build_autoencoder("transformer", (28, 28, 1), LATENT_DIM,
                                       pooling=pooling, **SMALL)
    x = images(28, 28, 1)
    backbone = model.encoder
    tokens = keras.Model(backbone.input,
                         backbone.get_layer("encoder_norm").output)(x)
    features = keras.Model(backbone.input,
                           backbone.get_layer("features").output)(x)
    tokens = keras.ops.convert_to_numpy(tokens)
    features = keras.ops.convert_to_numpy(features)
    assert features.shape == (3, 16)
    if pooling == "mean":
        assert tokens.shape == (3, 16, 16)
        np.testing.assert_allclose(features, tokens.mean(axis=1), atol=1e-6)
        assert not layers_of(backbone, ClassToken)
    else:
        assert tokens.shape == (3, 17, 16)  # the class token comes first
        np.testing.assert_allclose(features, tokens[:, 0], atol=1e-6)
        assert len(layers_of(backbone, ClassToken)) == 1


@pytest.mark.parametrize(
    "options, match",
    [({"pooling": "max"}, "pooling='max'"),
     ({"num_heads": 3}, "num_heads=3 and embed_dim=16"),
     ({"dropout": 1.0}, "dropout=1.0"), ({"patch_size": 0}, "patch_size=0"),
     ({"num_layers": 0}, "num_layers=0")],
)
def test_transformer_refuses_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        keras_ae.build_autoencoder("transformer", (28, 28, 1), LATENT_DIM,
                                   **{**SMALL, **options})


def test_transformer_layers_config_round_trip():
    for layer in (PositionalEmbedding(5, stddev=0.5, name="p"),
                  ClassToken(name="c"),
                  TransformerBlock(num_heads=2, mlp_dim=8, dropout=0.1, name="b")):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
    assert PositionalEmbedding(5, stddev=0.5).get_config()["stddev"] == 0.5
    with pytest.raises(ValueError, match="stddev=0"):
        PositionalEmbedding(5, stddev=0)


def test_positional_embedding_broadcasts_one_query_to_every_position():
    layer = PositionalEmbedding(num_tokens=6)
    queries = keras.ops.convert_to_numpy(layer(np.ones((2, 1, 4), "float32")))
    embedding = keras.ops.convert_to_numpy(layer.embedding)
    assert queries.shape == (2, 6, 4)
    np.testing.assert_allclose(queries[1], 1.0 + embedding, atol=1e-6)


def test_class_token_follows_the_batch_size():
    layer = ClassToken()
    for batch_size in (1, 5):
        out = keras.ops.convert_to_numpy(layer(np.ones((batch_size, 3, 4), "float32")))
        assert out.shape == (batch_size, 4, 4)
        np.testing.assert_array_equal(out[:, 0], 0.0)  # zero-initialized token
        np.testing.assert_array_equal(out[:, 1:], 1.0)


# === all three ===


@pytest.mark.parametrize(
    "family, foreign_option",
    [("conv", "units"), ("lstm", "patch_size"), ("transformer", "filters")],
)
def test_options_of_another_family_are_refused(family, foreign_option):
    with pytest.raises(ValueError, match=f"Unknown option.*Received: {foreign_option}"):
        keras_ae.build_autoencoder(family, (28, 28, 1), LATENT_DIM,
                                   **{foreign_option: 3})


@pytest.mark.parametrize("family", ["conv", "lstm", "transformer"])
def test_output_activation_is_applied(family):
    model = keras_ae.build_autoencoder(family, (28, 28, 1), LATENT_DIM,
                                       output_activation="linear")
    outputs = keras.ops.convert_to_numpy(
        model(np.random.default_rng(0).random((2, 28, 28, 1), dtype="float32")))
    # Sigmoid outputs lie in (0, 1); linear ones at random weights do not.
    assert outputs.min() < 0.0
    with pytest.raises(ValueError, match="output_activation='linear'"):
        keras_ae.build_autoencoder(family, (28, 28, 1), LATENT_DIM,
                                   reconstruction_loss="bce",
                                   output_activation="linear")
