"""Counting the floating-point operations (FLOPs) of a Keras model.

`forward_flops(model, input_shape)` traces `model(x, training=False)` into a
TensorFlow graph for a fixed batch and counts, op by op, the FLOPs of the
linear-algebra ops the layers lower to:

| op                                | FLOPs                                |
| --------------------------------- | ------------------------------------ |
| `MatMul` (`Dense`, LSTM gates)    | `2 * m * k * n`                      |
| `BatchMatMul*`                    | `2 * batch * m * k * n`              |
| `Einsum` (attention)              | `2 * product of every index's size`  |
| `Conv2D`, `Conv3D` (`Conv1D`)     | `2 * outputs * taps * c_in`          |
| `DepthwiseConv2dNative`           | `2 * outputs * taps`                 |
| `Conv2DBackpropInput` (transpose) | `2 * inputs * taps * c_out`          |

Convention: one multiply-accumulate is 2 FLOPs; every kernel tap counts,
also where "same" padding reads zeros; element-wise ops (biases,
activations, normalization, softmax, the loss) are not counted: they are a
few percent of a dense or convolutional model and run far below the matmul
rate anyway. So a `Dense(out)` layer on `in` features costs `2 * in * out`
FLOPs per example and a `Conv2D` costs `2 * k * k * c_in * c_out * H_out *
W_out`.

Training is counted as 3 forward passes (`TRAINING_FLOPS_PER_FORWARD`): the
forward pass, the gradient with respect to the activations and the
gradient with respect to the weights each cost about one forward pass of
matmuls. This slightly overstates the cost of the first layer, whose input
needs no gradient, and ignores the optimizer's element-wise update.

`profiler_flops` gives TensorFlow's own count
(`tf.compat.v1.profiler` with `ProfileOptionBuilder.float_operation()`,
public APIs only) as a cross-check: it also counts element-wise ops, but not `Einsum`, for which
TensorFlow registers no FLOP statistics.
"""

import math

TRAINING_FLOPS_PER_FORWARD = 3

_LOOP_AND_CALL_OPS = ("While", "StatelessWhile", "If", "StatelessIf", "Case",
                      "StatelessCase", "PartitionedCall",
                      "StatefulPartitionedCall")


def forward_flops(model, input_shape=None, batch_size=1):
    """Returns the FLOPs of one forward pass of `model` on a batch.

    Args:
        model: a Keras model with one input, called as `model(x,
            training=False)`.
        input_shape: tuple of ints, shape of one example without the batch
            dimension, or `None` to read it from `model.input_shape`.
        batch_size: int > 0, size of the traced batch.

    Returns:
        The FLOPs as an int (see the module docstring for the convention).

    Example:

    >>> inputs = keras.Input((784,))
    >>> model = keras.Model(inputs, keras.layers.Dense(10)(inputs))
    >>> forward_flops(model)
    15680
    """
    return sum(forward_flops_by_op(model, input_shape, batch_size).values())


def training_flops(model, input_shape=None, batch_size=1):
    """Returns the FLOPs of one training step, `3 * forward_flops(...)`."""
    return TRAINING_FLOPS_PER_FORWARD * forward_flops(model, input_shape,
                                                      batch_size)


def forward_flops_by_op(model, input_shape=None, batch_size=1):
    """Returns the forward FLOPs of `model` per op type, as `{op_type: flops}`.

    Raises:
        ValueError: if the traced graph holds a loop, a conditional or a
            function call, whose body the count would miss (e.g. an LSTM
            with `unroll=False`), or an op whose shapes are not static.
    """
    graph = forward_graph(model, input_shape, batch_size)
    found = sorted({op.type for op in graph.get_operations()
                    if op.type in _LOOP_AND_CALL_OPS})
    if found:
        raise ValueError(
            "The traced forward pass holds control-flow or function-call ops "
            f"({', '.join(found)}) whose bodies this count does not enter. "
            "Received: a model whose graph contains them; unroll the loops "
            "(e.g. `LSTM(unroll=True)`) to count its FLOPs."
        )
    totals = {}
    for op in graph.get_operations():
        flops = op_flops(op)
        if flops:
            totals[op.type] = totals.get(op.type, 0) + flops
    return totals


def forward_graph(model, input_shape=None, batch_size=1):
    """Traces `model(x, training=False)` for a fixed batch; returns its graph."""
    import tensorflow as tf

    input_shape = _input_shape(model, input_shape)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or (
        batch_size <= 0
    ):
        raise ValueError(
            f"`batch_size` must be an int > 0. Received: batch_size={batch_size!r}"
        )
    function = tf.function(lambda x: model(x, training=False))
    spec = tf.TensorSpec((batch_size, *input_shape), tf.float32)
    return function.get_concrete_function(spec).graph


def op_flops(op):
    """Returns the FLOPs of one graph op, 0 for the ops that are not counted."""
    counter = _COUNTERS.get(op.type)
    if counter is None:
        return 0
    shapes = [_static_shape(op, t) for t in op.inputs]
    return int(counter(op, shapes))


def profiler_flops(model, input_shape=None, batch_size=1):
    """Returns TensorFlow profiler's float-operation count of a forward pass.

    The graph of `model(x, training=False)` is pruned to what its outputs
    need (`tf.compat.v1.graph_util.extract_sub_graph`: a VAE's unused
    `z_log_var` head goes) and profiled with
    `tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()`. The
    profiler counts every op with registered FLOP statistics (matmuls,
    convolutions and element-wise arithmetic) and skips the others
    (`Einsum` among them).
    """
    import tensorflow as tf

    input_shape = _input_shape(model, input_shape)
    function = tf.function(lambda x: model(x, training=False))
    concrete = function.get_concrete_function(
        tf.TensorSpec((batch_size, *input_shape), tf.float32))
    pruned = tf.compat.v1.graph_util.extract_sub_graph(
        concrete.graph.as_graph_def(add_shapes=True),
        [tensor.op.name for tensor in concrete.outputs])
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(pruned, name="")
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=graph, options=options)
    return int(profile.total_float_ops)


# --- Per-op counts -----------------------------------------------------------


def _matmul(op, shapes):
    a, b = shapes
    m, k = (a[1], a[0]) if op.get_attr("transpose_a") else a
    n = b[0] if op.get_attr("transpose_b") else b[1]
    return 2 * m * k * n


def _batch_matmul(op, shapes):
    x, y = shapes
    adj_x = op.get_attr("adj_x")
    adj_y = op.get_attr("adj_y")
    m, k = (x[-1], x[-2]) if adj_x else (x[-2], x[-1])
    n = y[-2] if adj_y else y[-1]
    batch = _broadcast(x[:-2], y[:-2])
    return 2 * math.prod(batch) * m * k * n


def _einsum(op, shapes):
    if len(shapes) < 2:
        return 0  # a transpose or a reduction: no multiplications
    inputs = op.get_attr("equation").decode().replace(" ", "").split("->")[0]
    sizes = {}
    for subscripts, shape in zip(inputs.split(","), shapes):
        for label, size in zip(_expand_ellipsis(subscripts, len(shape)), shape):
            sizes[label] = max(sizes.get(label, 1), size)
    return 2 * math.prod(sizes.values())


def _conv(op, shapes):
    kernel = shapes[1]
    output = _static_shape(op, op.outputs[0])
    # The kernel is (*taps, c_in / groups, c_out): each output element reads
    # taps * c_in / groups inputs.
    return 2 * math.prod(output) * math.prod(kernel[:-1])


def _depthwise_conv(op, shapes):
    kernel = shapes[1]
    output = _static_shape(op, op.outputs[0])
    return 2 * math.prod(output) * math.prod(kernel[:-2])


def _conv_backprop_input(op, shapes):
    # Conv2DTranspose: inputs are (input_sizes, kernel, out_backprop); each
    # element of out_backprop (the transposed conv's input) is spread over
    # taps * c_out outputs, with the kernel (*taps, c_out, c_in).
    kernel, transposed_input = shapes[1], shapes[2]
    return 2 * math.prod(transposed_input) * math.prod(kernel[:-1])


_COUNTERS = {
    "MatMul": _matmul,
    "BatchMatMul": _batch_matmul,
    "BatchMatMulV2": _batch_matmul,
    "BatchMatMulV3": _batch_matmul,
    "Einsum": _einsum,
    "Conv2D": _conv,
    "Conv3D": _conv,
    "DepthwiseConv2dNative": _depthwise_conv,
    "Conv2DBackpropInput": _conv_backprop_input,
    "Conv3DBackpropInputV2": _conv_backprop_input,
}


# --- Helpers -----------------------------------------------------------------


def _input_shape(model, input_shape):
    if input_shape is None:
        # A keras_ae autoencoder (a subclassed model) records `input_shape_`.
        shape = getattr(model, "input_shape_", None)
        if shape is not None:
            shape = (None, *shape)
        else:
            try:
                shape = model.input_shape
            except AttributeError:
                raise ValueError(
                    "The model does not know its input shape (a subclassed "
                    "model): pass `input_shape`. Received: input_shape=None"
                ) from None
        if isinstance(shape, list):
            raise ValueError(
                "`forward_flops` takes models with one input. Received: a "
                f"model with input shapes {shape}"
            )
        input_shape = shape[1:]
    input_shape = tuple(input_shape)
    if not input_shape or any(
        isinstance(d, bool) or not isinstance(d, int) or d <= 0
        for d in input_shape
    ):
        raise ValueError(
            "`input_shape` must be a non-empty tuple of positive ints (no "
            f"batch dimension). Received: input_shape={input_shape!r}"
        )
    return input_shape


def _static_shape(op, tensor):
    shape = tensor.shape
    if shape.rank is None or any(d is None for d in shape.as_list()):
        raise ValueError(
            f"Op {op.name!r} ({op.type}) has a tensor of unknown shape "
            f"{shape}; its FLOPs cannot be counted. Trace the model with "
            "static shapes."
        )
    return tuple(shape.as_list())


def _broadcast(a, b):
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    return tuple(max(x, y) for x, y in zip(a, b))


def _expand_ellipsis(subscripts, rank):
    """Returns one label per dimension, naming those of `...` by position.

    Broadcast dimensions line up from the right between operands, so each is
    named by its distance to the right end of the ellipsis.
    """
    if "..." not in subscripts:
        return list(subscripts)
    before, after = subscripts.split("...")
    count = rank - len(before) - len(after)
    if count < 0:
        raise ValueError(
            f"Einsum subscripts {subscripts!r} do not match an operand of "
            f"rank {rank}."
        )
    return (list(before) + [f"...{count - 1 - i}" for i in range(count)]
            + list(after))


def describe_convention():
    """Returns the counting convention as one line of text, for reports."""
    return (
        "FLOPs counted from the traced graph of model(x) at batch 1: 2 per "
        "multiply-accumulate of MatMul/BatchMatMul/Einsum/Conv ops (Dense: "
        "2*in*out, Conv2D: 2*k*k*c_in*c_out*H_out*W_out); element-wise ops not "
        f"counted; training = {TRAINING_FLOPS_PER_FORWARD} x forward."
    )

