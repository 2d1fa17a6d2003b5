"""Int8 graphs the CPU delegate runs whole: hard-swish as ADD and MUL, average pooling as a convolution.

XNNPACK, the delegate LiteRT applies on the CPU, has no int8 HARD_SWISH: each
of MobileNetV3's hard-swish ops cut the int8 graph and ran on the
interpreter's reference kernel, which made int8 MobileNetV3 slower than its
float file. `lower` rewrites a converted int8 file so that

    y = HARD_SWISH(x)   becomes   t = ADD(x, 3)    int8 on exactly [0, 6]: the int8
                                                    range's ends are relu6's, so
                                                    saturation is the clamp
                                  y = MUL(x, t)    x * relu6(x + 3), six times the
                                                    hard-swish

and the 1/6 goes to the layers that read y. `y` keeps every integer it had;
its scale grows six-fold, so it holds the real value x * relu6(x + 3). Where
that value passes through ops that are linear in it (MEAN, pooling, reshapes,
a MUL such as squeeze-excite's scale) their outputs' scales grow six-fold too;
the convolutions and fully-connected layers that finally read it take the 1/6
into their weights' scales. A QAT model's file holds the ADD, a MUL by the
constant 1/6 and the MUL by x (training fake-quantizes relu6(x + 3) on the
same grid, see optimize.qat.HardSwishQuantizeConfig); the constant MUL is
folded the same way, as is the 1/6 of squeeze-excite's hard-sigmoid gate: any
int8 MUL by a positive scalar constant whose readers can absorb it.

A hard-swish whose input range is so small that x^2 / 6 stays under half a
step of its output is x / 2 there, and is folded as such (layers with almost
no signal: random weights). Where the value reaches anything else (an ADD, a
concatenation, a graph output) the 1/6 stays a MUL by a constant, still in
the delegate; a hard-swish whose scales XNNPACK's int8 ADD or MUL would
refuse keeps the op as the converter wrote it. The one new rounding is t, an
8-bit tensor on [0, 6] (step 6/255), which QAT models already simulate.

Average pooling with VALID padding (DenseNet's transitions) and strided 1x1
max pooling (ResNet v2's shortcuts), which the delegate also leaves out in
int8, become the depthwise convolutions they equal; a constant ADD input
quantized finer than XNNPACK's ADD accepts is requantized onto the coarsest
grid it does.
"""

from __future__ import annotations

import numpy as np

from mobilekit.export import tflite_file
from mobilekit.export.int8_fixes import is_quantized_integer, repair_bias_scales

schema = tflite_file.schema
SIX = 6.0
# t's grid: int8 -128..127 onto [0, 6] exactly.
GATE_SCALE, GATE_ZERO_POINT = SIX / 255.0, -128

# Ops that read the value as input 0 and hold weights in input 1: the factor goes into the weights.
_ABSORBING = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"})
# Ops that move values: their output keeps their input's quantization.
_MOVING = frozenset(
    {
        "AVERAGE_POOL_2D",
        "MAX_POOL_2D",
        "RESHAPE",
        "SQUEEZE",
        "PAD",
        "STRIDED_SLICE",
        "SLICE",
        "TRANSPOSE",
        "RESIZE_NEAREST_NEIGHBOR",
    }
)
# Ops linear in the value that requantize: their output's scale takes the factor.
_REQUANTIZING = {"MEAN": (0,), "QUANTIZE": (0,), "RESIZE_BILINEAR": (0,), "MUL": (0, 1)}

# XNNPACK's int8 ADD takes an input scale within [2^-10, 2^8) of the output's, its int8 MUL a
# product scale within [2^-16, 2^8) of the output's; outside, the op stays on the interpreter,
# and a lowered pair would cost more than the stock op. An input that small is a layer with
# almost no signal (random weights, a dead channel group).
_ADD_SCALE_RATIOS = (2.0**-10, 2.0**8)
_MUL_SCALE_RATIOS = (2.0**-16, 2.0**8)


def lower(buf: bytes, *, hard_swish: bool = True) -> bytes:
    """`buf` with the int8 ops XNNPACK lacks rewritten as ops it runs (see the module docstring).

    hard_swish=False keeps HARD_SWISH and the constant multiplies as the
    converter wrote them (for runtimes with a fused int8 hard-swish kernel).
    """
    model = tflite_file.read(buf)
    graph = model.subgraphs[0]
    changed = False
    for op in list(graph.operators):
        name = tflite_file.op_name(model, op.opcodeIndex)
        if name == "HARD_SWISH" and hard_swish:
            changed |= _lower(model, graph, op)
        elif name == "MUL" and hard_swish:
            changed |= _fold_constant_multiply(model, graph, op)
        elif name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            changed |= _pool_as_depthwise(model, graph, op, name)
        elif name == "ADD":
            changed |= _widen_small_constant(model, graph, op)
    return repair_bias_scales(tflite_file.write(model)) if changed else buf


def _pool_as_depthwise(model, graph, op, name: str) -> bool:
    """An int8 pool XNNPACK leaves out as the DEPTHWISE_CONV_2D it equals.

    - VALID average pooling (DenseNet's transitions: XNNPACK has no int8
      average pool in the delegate): every window holds kh * kw values, so
      weights of 1 / (kh * kw) compute the same mean. SAME padding divides by
      the values inside the image and is left alone.
    - 1x1 max pooling with a stride (ResNet v2's shortcuts: XNNPACK takes no
      1x1 pool) picks every s-th value: a 1x1 depthwise of weight 1.
    """
    options = op.builtinOptions
    x, y = op.inputs[0], op.outputs[0]
    if _fused_activation(op) or not (_int8(graph, x) and _int8(graph, y)):
        return False
    if name == "AVERAGE_POOL_2D" and options.padding == schema.Padding.VALID:
        weight = 1.0 / (options.filterHeight * options.filterWidth)
    elif name == "MAX_POOL_2D" and options.filterHeight == options.filterWidth == 1:
        weight = 1.0
    else:
        return False
    channels = int(graph.tensors[x].shape[-1])
    name = tflite_file.decode(graph.tensors[y].name)
    filters = _new_tensor(
        model,
        graph,
        f"{name}/mean_filter",
        [1, options.filterHeight, options.filterWidth, channels],
        [weight / 127.0] * channels,
        [0] * channels,
        low=0.0,
        high=weight,
        data=np.full((options.filterHeight, options.filterWidth, channels), 127, dtype=np.int8),
    )
    graph.tensors[filters].quantization.quantizedDimension = 3
    bias_scale = [_scale(graph, x) * weight / 127.0] * channels
    bias = _new_tensor(
        model,
        graph,
        f"{name}/zero_bias",
        [channels],
        bias_scale,
        [0] * channels,
        data=np.zeros(channels, dtype=np.int32),
        dtype=schema.TensorType.INT32,
    )
    depthwise = schema.DepthwiseConv2DOptionsT()
    depthwise.padding, depthwise.strideW, depthwise.strideH = options.padding, options.strideW, options.strideH
    depthwise.depthMultiplier = 1
    conv = _operator(
        model,
        schema.BuiltinOperator.DEPTHWISE_CONV_2D,
        [x, filters, bias],
        [y],
        schema.BuiltinOptions.DepthwiseConv2DOptions,
        depthwise,
        schema.ActivationFunctionType.NONE,
        version=3,
    )
    graph.operators[graph.operators.index(op)] = conv
    return True


def _widen_small_constant(model, graph, op) -> bool:
    """Requantize a constant ADD input whose scale is under XNNPACK's 2^-10 of the output's.

    The converter quantizes a constant on its own range; a per-channel offset
    near zero (a batch normalization after a concatenation, MixNet) gets a
    scale so small that XNNPACK refuses the ADD. On 2^-10 of the output's
    scale the constant still resolves far below one output step.
    """
    y = op.outputs[0]
    if len(op.inputs) != 2 or not _int8(graph, y):
        return False
    changed = False
    for slot, index in enumerate(op.inputs):
        real = _constant_values(model, graph, index)
        if real is None or _scale(graph, index) / _scale(graph, y) >= _ADD_SCALE_RATIOS[0]:
            continue
        tensor = graph.tensors[index]
        scale = max(_scale(graph, y) * _ADD_SCALE_RATIOS[0] * 1.001, float(np.abs(real).max()) / 127.0)
        values = np.clip(np.round(real / scale), -127, 127).astype(np.int8)
        op.inputs[slot] = _new_tensor(
            model, graph, f"{tflite_file.decode(tensor.name)}/widened", list(tensor.shape), scale, 0, data=values
        )
        changed = True
    return changed


def _lower(model, graph, op) -> bool:
    x, y = op.inputs[0], op.outputs[0]
    if not (_int8(graph, x) and _int8(graph, y)):
        return False
    at = graph.operators.index(op)
    if _nearly_linear(graph, x, y):
        if not _bypass(model, graph, op, x, 2.0):
            graph.operators[at] = _multiply_by_constant(model, graph, x, y, 0.5)
        return True
    if not _delegate_takes(graph, x, y):
        return False
    if y not in graph.outputs and _relabel(model, graph, y, SIX, apply=False):
        # Integers kept, scale grown: y holds x * relu6(x + 3).
        _scale_quantization(graph.tensors[y].quantization, SIX)
        _scale_range(graph.tensors[y].quantization, SIX)
        _relabel(model, graph, y, SIX, apply=True)
        graph.operators[at : at + 1] = _add_and_mul(model, graph, x, y)
        return True
    # A reader cannot take the 1/6 (an ADD: MobileNetV3-Large's first residual; the app): it stays a MUL.
    product = _new_tensor(
        model,
        graph,
        f"{tflite_file.decode(graph.tensors[y].name)}/times_six",
        list(graph.tensors[y].shape),
        _scale(graph, y) * SIX,
        _zero_point(graph, y),
    )
    graph.operators[at : at + 1] = [
        *_add_and_mul(model, graph, x, product),
        _multiply_by_constant(model, graph, product, y, 1.0 / SIX),
    ]
    return True


def _zero_point(graph, index: int) -> int:
    zero_point = graph.tensors[index].quantization.zeroPoint
    return int(zero_point[0]) if zero_point is not None and len(zero_point) else 0


def _multiply_by_constant(model, graph, x: int, y: int, value: float):
    """MUL(x, value) -> y, the constant one int8 element (127 steps of value / 127)."""
    constant = _new_tensor(
        model,
        graph,
        f"{tflite_file.decode(graph.tensors[y].name)}/constant",
        [1],
        value / 127.0,
        0,
        low=0.0,
        high=value,
        data=np.array([127], dtype=np.int8),
    )
    return _operator(
        model,
        schema.BuiltinOperator.MUL,
        [x, constant],
        [y],
        schema.BuiltinOptions.MulOptions,
        schema.MulOptionsT(),
        schema.ActivationFunctionType.NONE,
    )


def _fold_constant_multiply(model, graph, op) -> bool:
    """Drop y = MUL(v, c) for a positive scalar constant c: y's readers read v, c goes to their weights."""
    constant = [_scalar_constant(model, graph, i) for i in op.inputs]
    if len(op.inputs) != 2 or (constant[0] is None) == (constant[1] is None) or _fused_activation(op):
        return False
    value = op.inputs[1] if constant[0] is not None else op.inputs[0]
    c = constant[0] if constant[0] is not None else constant[1]
    if not (c > 0 and _int8(graph, value) and _int8(graph, op.outputs[0])):
        return False
    return _bypass(model, graph, op, value, 1.0 / c)


def _bypass(model, graph, op, value: int, factor: float) -> bool:
    """Remove `op`, whose output is `value` / `factor`: its readers read `value` and absorb the factor."""
    y = op.outputs[0]
    if y in graph.outputs or not _relabel(model, graph, y, factor, apply=False):
        return False
    readers = _consumers(graph, y)
    for reader, slot in readers:
        reader.inputs[slot] = value
    graph.operators.remove(op)
    _relabel(model, graph, value, factor, apply=True, readers=readers)
    return True


def _nearly_linear(graph, x: int, y: int) -> bool:
    """Whether hard-swish is x / 2 on x's whole int8 range to within half a step of y.

    hard-swish(x) = x / 2 + x^2 / 6 for |x| <= 3. A layer with almost no signal
    (random weights: MobileNetV3's activations shrink block by block) has an
    input range so small that XNNPACK's ADD would refuse it, and there the
    square is below y's rounding: the op is a multiply by 1/2, folded like the
    constants above.
    """
    zero_point = _zero_point(graph, x)
    largest = max(abs(-128 - zero_point), abs(127 - zero_point)) * _scale(graph, x)
    return 0 < largest <= 3.0 and largest * largest / 6.0 < _scale(graph, y) / 2.0


def _relabel(model, graph, tensor: int, factor: float, *, apply: bool, readers=None) -> bool:
    """Whether the readers of `tensor` can take a value `factor` times larger, and (apply) make them.

    Readers that hold weights take 1/factor into the weights' scales (their
    biases are put back on input x weight scale afterwards); moving ops copy
    their input's quantization; requantizing ops grow their output's scale by
    the factor, and their readers are visited in turn.
    """
    pending = [(tensor, readers if readers is not None else _consumers(graph, tensor))]
    while pending:
        source, edges = pending.pop()
        for reader, slot in edges:
            name = tflite_file.op_name(model, reader.opcodeIndex)
            output = reader.outputs[0] if reader.outputs is not None and len(reader.outputs) else None
            if name in _ABSORBING and slot == 0:
                weights = reader.inputs[1]
                if len(_consumers(graph, weights)) != 1 or not _int8(graph, weights):
                    return False
                if apply:
                    _scale_quantization(graph.tensors[weights].quantization, 1.0 / factor)
                continue
            moving = name in _MOVING and slot == 0
            requantizing = slot in _REQUANTIZING.get(name, ())
            if (
                not (moving or requantizing)
                or _fused_activation(reader)
                or output is None
                or output in graph.outputs
                or not _int8(graph, output)
            ):
                return False
            if apply and moving:
                graph.tensors[output].quantization = _copy_quantization(graph.tensors[source].quantization)
            elif apply:
                _scale_quantization(graph.tensors[output].quantization, factor)
                _scale_range(graph.tensors[output].quantization, factor)
            pending.append((output, _consumers(graph, output)))
    return True


def _int8(graph, index: int) -> bool:
    tensor = graph.tensors[index]
    return tensor.type == schema.TensorType.INT8 and is_quantized_integer(tensor)


def _scale(graph, index: int) -> float:
    quantization = graph.tensors[index].quantization
    return float(quantization.scale[0]) if len(quantization.scale) == 1 else 0.0


def _delegate_takes(graph, x: int, y: int) -> bool:
    input_scale, output_scale = _scale(graph, x), _scale(graph, y) * SIX
    if not input_scale or not output_scale:
        return False
    add_ratio = input_scale / GATE_SCALE
    mul_ratio = input_scale * GATE_SCALE / output_scale
    return (
        _ADD_SCALE_RATIOS[0] <= add_ratio < _ADD_SCALE_RATIOS[1]
        and _MUL_SCALE_RATIOS[0] <= mul_ratio < _MUL_SCALE_RATIOS[1]
    )


def _consumers(graph, tensor: int) -> list:
    return [(op, slot) for op in graph.operators for slot, index in enumerate(op.inputs) if index == tensor]


def _fused_activation(op) -> int:
    return getattr(op.builtinOptions, "fusedActivationFunction", schema.ActivationFunctionType.NONE)


def _constant_values(model, graph, index: int) -> np.ndarray | None:
    """The real values of a constant per-tensor int8 tensor, else None."""
    tensor = graph.tensors[index]
    data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
    if data is None or len(data) == 0 or not _int8(graph, index) or len(tensor.quantization.scale) != 1:
        return None
    integers = np.frombuffer(bytes(bytearray(data)), dtype=np.int8).astype(np.float64)
    return (integers - _zero_point(graph, index)) * _scale(graph, index)


def _scalar_constant(model, graph, index: int) -> float | None:
    """The real value of a constant int8 tensor whose elements are all equal, else None."""
    values = _constant_values(model, graph, index)
    return float(values[0]) if values is not None and np.all(values == values[0]) else None


def _scale_quantization(quantization, factor: float) -> None:
    quantization.scale = [float(s) * factor for s in quantization.scale]


def _scale_range(quantization, factor: float) -> None:
    for field in ("min", "max"):
        values = getattr(quantization, field)
        if values is not None and len(values):
            setattr(quantization, field, [float(v) * factor for v in values])


def _copy_quantization(quantization):
    copy = schema.QuantizationParametersT()
    for field in ("scale", "zeroPoint", "min", "max"):
        values = getattr(quantization, field)
        setattr(copy, field, None if values is None else list(values))
    copy.quantizedDimension = quantization.quantizedDimension
    return copy


def _add_and_mul(model, graph, x: int, y: int) -> list:
    """ADD(x, 3) onto [0, 6] and MUL(x, t) -> y, as new operators (tensors and buffers appended)."""
    source = graph.tensors[x]
    name = tflite_file.decode(source.name)
    gate = _new_tensor(
        model, graph, f"{name}/relu6_plus_3", list(source.shape), GATE_SCALE, GATE_ZERO_POINT, low=0.0, high=SIX
    )
    if source.shapeSignature is not None:
        graph.tensors[gate].shapeSignature = list(source.shapeSignature)
    three = _new_tensor(
        model, graph, f"{name}/three", [1], 3.0 / 127.0, 0, low=-3.0, high=3.0, data=np.array([127], dtype=np.int8)
    )
    add = _operator(
        model,
        schema.BuiltinOperator.ADD,
        [x, three],
        [gate],
        schema.BuiltinOptions.AddOptions,
        schema.AddOptionsT(),
        schema.ActivationFunctionType.RELU6,
    )
    mul = _operator(
        model,
        schema.BuiltinOperator.MUL,
        [x, gate],
        [y],
        schema.BuiltinOptions.MulOptions,
        schema.MulOptionsT(),
        schema.ActivationFunctionType.NONE,
    )
    return [add, mul]


def _new_tensor(
    model, graph, name, shape, scale, zero_point, *, low=None, high=None, data=None, dtype=schema.TensorType.INT8
) -> int:
    tensor = schema.TensorT()
    tensor.name, tensor.shape, tensor.type = name, shape, dtype
    quantization = schema.QuantizationParametersT()
    quantization.scale = list(scale) if isinstance(scale, list) else [scale]
    quantization.zeroPoint = list(zero_point) if isinstance(zero_point, list) else [zero_point]
    if low is not None:
        quantization.min, quantization.max = [low], [high]
    tensor.quantization = quantization
    tensor.buffer = 0
    if data is not None:
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(data.tobytes(), dtype=np.uint8)
        tensor.buffer = len(model.buffers)
        model.buffers.append(buffer)
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def _operator(model, builtin, inputs, outputs, options_type, options, activation, *, version: int = 2):
    op = schema.OperatorT()
    op.opcodeIndex = _opcode(model, builtin, version)
    op.inputs, op.outputs = inputs, outputs
    options.fusedActivationFunction = activation
    op.builtinOptionsType, op.builtinOptions = options_type, options
    return op


def _opcode(model, builtin: int, version: int) -> int:
    """The index of `builtin`'s operator code, added at `version` (its int8 kernel's) if missing."""
    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return index
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode = builtin, min(builtin, 127)
    code.version = version
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1
