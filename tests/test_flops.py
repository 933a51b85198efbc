"""The FLOP counter of the benchmarks, against counts done by hand."""

import keras
import pytest

from benchmarks import flops


def _dense_model():
    inputs = keras.Input((784,))
    x = keras.layers.Dense(256, activation="relu")(inputs)
    outputs = keras.layers.Dense(10)(x)
    return keras.Model(inputs, outputs)


def _conv_model():
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same")(inputs)
    x = keras.layers.Conv2D(64, 3, strides=2, padding="same")(x)
    outputs = keras.layers.Conv2DTranspose(16, 5, strides=2, padding="same")(x)
    return keras.Model(inputs, outputs)


def test_dense_model_matches_the_hand_count():
    # Dense: 2 * in * out per example; biases and activations not counted.
    expected = 2 * 784 * 256 + 2 * 256 * 10
    assert flops.forward_flops(_dense_model()) == expected
    assert flops.forward_flops(_dense_model(), batch_size=3) == 3 * expected
    assert flops.training_flops(_dense_model()) == 3 * expected


def test_dense_on_a_sequence_counts_every_time_step():
    inputs = keras.Input((12, 8))
    outputs = keras.layers.Dense(5)(inputs)
    assert flops.forward_flops(keras.Model(inputs, outputs)) == 2 * 12 * 8 * 5


def test_conv_model_matches_the_hand_count():
    # Conv2D: 2 * k * k * c_in * c_out * H_out * W_out ("same" padding,
    # stride 2: 28 -> 14 -> 7). Conv2DTranspose: 2 * k * k * c_in * c_out *
    # H_in * W_in, each input pixel spread over a k x k patch of outputs.
    expected = (2 * 3 * 3 * 1 * 32 * 14 * 14
                + 2 * 3 * 3 * 32 * 64 * 7 * 7
                + 2 * 5 * 5 * 64 * 16 * 7 * 7)
    by_op = flops.forward_flops_by_op(_conv_model())
    assert by_op == {"Conv2D": 2 * 3 * 3 * 1 * 32 * 14 * 14
                     + 2 * 3 * 3 * 32 * 64 * 7 * 7,
                     "Conv2DBackpropInput": 2 * 5 * 5 * 64 * 16 * 7 * 7}
    assert flops.forward_flops(_conv_model()) == expected


def test_attention_matches_the_hand_count():
    tokens, dim, heads, key_dim = 6, 8, 2, 4
    inputs = keras.Input((tokens, dim))
    outputs = keras.layers.MultiHeadAttention(heads, key_dim)(inputs, inputs)
    # Query, key and value projections, the scores q.k, the weighted sum of
    # the values, and the output projection.
    expected = (3 * 2 * tokens * dim * heads * key_dim
                + 2 * heads * tokens * tokens * key_dim
                + 2 * heads * tokens * tokens * key_dim
                + 2 * tokens * heads * key_dim * dim)
    assert flops.forward_flops(keras.Model(inputs, outputs)) == expected


def test_profiler_agrees_on_a_dense_model_up_to_element_wise_ops():
    expected = 2 * 784 * 256 + 2 * 256 * 10
    counted = flops.profiler_flops(_dense_model())
    # The profiler adds the biases (256 + 10) and nothing else of size.
    assert expected <= counted <= expected + 2 * (256 + 10)


def test_keras_ae_autoencoder_reads_its_input_shape():
    import keras_ae

    model = keras_ae.build_autoencoder("dense", (4, 4), latent_dim=2,
                                       hidden_units=(8,))
    # Encoder 16 -> 8 -> 2 (code), decoder 2 -> 8 -> 16.
    expected = 2 * (16 * 8 + 8 * 2 + 2 * 8 + 8 * 16)
    assert flops.forward_flops(model) == expected


def test_a_loop_is_refused_rather_than_undercounted():
    inputs = keras.Input((5, 3))
    outputs = keras.layers.LSTM(4, unroll=False)(inputs)
    with pytest.raises(ValueError, match="unroll"):
        flops.forward_flops(keras.Model(inputs, outputs))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="batch_size"):
        flops.forward_flops(_dense_model(), batch_size=0)
    with pytest.raises(ValueError, match="input_shape"):
        flops.forward_flops(_dense_model(), input_shape=(784, None))
