"""Quantization-aware training: every zoo model through qat.quantize -> one step -> fully-integer int8.

The per-model test runs scripts/qat_coverage.py's `evaluate_case` (the small
settings of tests/zoo_params.py: resolution max(min_resolution, 32), 64 px for
EfficientNet-B1..B7, alpha 0.5, 10 classes) and checks the row it computes
against the committed docs/qat_coverage.md, whichever worker runs it.
tfmot's wrapping takes seconds per model, so only a representative few (and
the option rows) run without the `slow` marker.
"""

import mobilekit  # noqa: F401  (first: selects tf_keras before TensorFlow loads)

import gc
import importlib.util
import pathlib
import sys

import numpy as np
import tensorflow as tf
import pytest
import tensorflow_model_optimization as tfmot
import tf_keras

from mobilekit import UserError, models
from mobilekit.export import convert, tflite_file
from mobilekit.models.classic import LocalResponseNormalization
from mobilekit.models.layers import ChannelSlice, HardSigmoid, HardSwish, InputNormalization, SqueezeExcite
from mobilekit.optimize import qat
from mobilekit.runtime import evaluate
from zoo_params import CLASSES, DEEPER

ROOT = pathlib.Path(__file__).resolve().parents[1]
_keras_q = tfmot.quantization.keras


def _load(path: pathlib.Path):
    """Import a file that is not in a package (a script, another test module) under its own name."""
    name = f"_qat_test_{path.stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


coverage = _load(ROOT / "scripts" / "qat_coverage.py")


def committed_rows() -> dict[str, str]:
    return coverage.table_lines((ROOT / "docs" / "qat_coverage.md").read_text(encoding="utf-8"))


# The fast tier wraps MobileNetV3-Small (hard-swish, squeeze-excite, residual adds) and the option rows
# (AlexNet's LRN); the other layers have tests of their own below. The full run wraps every model but
# the deeper members of a family, the same blocks as a shallower one repeated: they took a third of
# the suite's time; scripts/qat_coverage.py still wraps and converts them for its table.
REPRESENTATIVE = ("mobilenet_v3_small",)


def _case_params():
    return [
        pytest.param(
            case,
            id=case.label.replace(" ", ""),
            marks=[] if case.options or case.name in REPRESENTATIVE else [pytest.mark.slow],
        )
        for case in coverage.cases()
        if case.name not in DEEPER
    ]


def test_the_deeper_members_left_to_the_script_are_registered_and_have_a_shallower_sibling():
    for name in DEEPER:
        family = models.info(name).family
        assert any(models.info(other).family == family and other not in DEEPER for other in models.names()), name


@pytest.mark.parametrize("case", _case_params())
def test_every_model_trains_with_qat_and_converts_fully_integer(case):
    outcome = coverage.evaluate_case(case)
    assert outcome.row.wraps and outcome.row.fully_integer and not outcome.row.note, outcome.row
    assert committed_rows().get(case.label) == outcome.row.markdown(), "rerun scripts/qat_coverage.py"

    summary = tflite_file.summarize(outcome.tflite)
    pixels = summary.inputs[0]
    assert pixels.dtype == "uint8" and pixels.quantization.scale == (1.0,) and pixels.quantization.zero_point == (0,)
    # After one step on random weights the scores say little (the fidelity test
    # below checks agreement on a trained model): the file must run and give a
    # distribution per image.
    scores = evaluate.predict(outcome.tflite, outcome.images, show_progress=False)
    assert scores.shape == (len(outcome.images), CLASSES) and np.isfinite(scores).all()
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=0.05)
    del outcome
    tf_keras.backend.clear_session()
    gc.collect()


def test_coverage_table_lists_every_case_in_order():
    """docs/qat_coverage.md has one row per case, in the registry's order, under the script's header."""
    text = (ROOT / "docs" / "qat_coverage.md").read_text(encoding="utf-8")
    committed = coverage.table_lines(text)
    assert list(committed) == [case.label for case in coverage.cases()], (
        "the table's models differ from the registry: run scripts/qat_coverage.py"
    )
    assert text == coverage.HEADER + "".join(line + "\n" for line in committed.values())


# --- the QuantizeConfigs ---------------------------------------------------------


def _quantizer_settings(quantizer) -> dict:
    quantizer = getattr(quantizer, "quantizer", quantizer)  # through the naming shim
    return dict(type=type(quantizer).__name__, **quantizer.get_config())


ACTIVATION = dict(type="MovingAverageQuantizer", num_bits=8, per_axis=False, symmetric=False, narrow_range=False)


@pytest.mark.parametrize(
    "layer",
    [
        HardSigmoid(),
        LocalResponseNormalization(),
        tf_keras.layers.BatchNormalization(),
        tf_keras.layers.Rescaling(0.5),
        tf_keras.layers.Multiply(),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_weightless_layers_quantize_their_output_only(layer):
    config = qat.QuantizeRegistry().get_quantize_config(layer)
    assert type(config) is qat.OutputQuantizeConfig
    assert config.get_weights_and_quantizers(layer) == [] and config.get_activations_and_quantizers(layer) == []
    assert [_quantizer_settings(q) for q in config.get_output_quantizers(layer)] == [ACTIVATION]


def test_hard_swish_quantizes_relu6_of_x_plus_3_on_the_lowered_files_grid():
    """export.lowering writes int8 hard-swish as ADD(x, 3) on exactly [0, 6] and a MUL: QAT rounds there too."""
    layer = HardSwish()
    config = qat.QuantizeRegistry().get_quantize_config(layer)
    assert type(config) is qat.HardSwishQuantizeConfig
    assert config.get_weights_and_quantizers(layer) == []
    ((point, quantizer),) = config.get_activations_and_quantizers(layer)
    assert quantizer.prefix == "shifted_relu6"
    assert _quantizer_settings(quantizer) == dict(
        type="FixedQuantizer", num_bits=8, init_min=0.0, init_max=6.0, narrow_range=False
    )
    assert [_quantizer_settings(q) for q in config.get_output_quantizers(layer)] == [ACTIVATION]
    x = tf.constant([[-4.0, -1.0, 0.01, 2.0, 5.0]])
    np.testing.assert_allclose(point(x).numpy(), tf.nn.relu6(x + 3.0).numpy())


@pytest.mark.parametrize(
    "scale, offset, stats, points",
    [
        (1 / 127.5, -1.0, False, ["scaled"]),  # MUL and ADD: the product is a tensor of its own
        ((0.017, 0.0175, 0.0174), (-2.1, -2.0, -1.8), False, ["scaled"]),
        (1.0, (-103.9, -116.8, -123.7), False, []),  # "caffe": the converter drops the MUL by 1
        (1 / 255, 0.0, False, []),  # no ADD: the product is the output
        (1 / 255, 0.0, True, ["scaled"]),  # statistics: MUL and ADD
    ],
    ids=["tf", "torch", "caffe", "no-offset", "stats"],
)
def test_input_normalization_gets_a_range_between_its_mul_and_add(scale, offset, stats, points):
    layer = InputNormalization(scale, offset, stats=stats)
    layer.build((None, 4, 4, 3))
    config = qat.QuantizeRegistry().get_quantize_config(layer)
    assert type(config) is qat.InputNormalizationQuantizeConfig
    assert config.get_weights_and_quantizers(layer) == []
    activations = config.get_activations_and_quantizers(layer)
    assert [q.prefix for _, q in activations] == points
    assert [_quantizer_settings(q) for _, q in activations] == [ACTIVATION] * len(points)
    assert [_quantizer_settings(q) for q in config.get_output_quantizers(layer)] == [ACTIVATION]


@pytest.mark.parametrize(
    "layer", [ChannelSlice(0, 2), tf_keras.layers.AveragePooling2D()], ids=lambda layer: type(layer).__name__
)
def test_value_moving_layers_keep_their_input_grid(layer):
    """STRIDED_SLICE and int8 AVERAGE_POOL_2D keep the input's scale: no range of their own."""
    config = qat.QuantizeRegistry().get_quantize_config(layer)
    assert config.get_output_quantizers(layer) == [] and config.get_weights_and_quantizers(layer) == []


def test_stock_layers_keep_tfmot_defaults_and_only_ours_are_annotated():
    registry = qat.QuantizeRegistry()
    conv = tf_keras.layers.Conv2D(4, 3)
    assert registry.own_config(conv) is None and registry.own_config(tf_keras.layers.BatchNormalization()) is None
    assert type(registry.get_quantize_config(conv)).__name__ == "Default8BitConvQuantizeConfig"
    assert type(registry.own_config(SqueezeExcite(2))) is qat.SqueezeExciteQuantizeConfig
    assert not registry.supports(tf_keras.layers.LayerNormalization())


@pytest.mark.parametrize(
    "activation, gate, points",
    [
        ("relu", "sigmoid", ["act", "expand"]),  # relu fuses into the reduce conv; LOGISTIC's output is fixed
        ("relu6", "hard_sigmoid", ["act", "gate_layer"]),  # hard sigmoid's +3 and relu6 fold into the expand conv
        ("swish", "sigmoid", ["reduce", "act", "expand"]),
        ("hard_swish", "hard_sigmoid", ["reduce", "act", "gate_layer"]),
    ],
)
@pytest.mark.parametrize("per_channel", [True, False])
def test_squeeze_excite_config_quantizes_both_kernels_and_its_int8_tensors(activation, gate, points, per_channel):
    layer = SqueezeExcite(4, activation=activation, gate=gate)
    layer.build((None, 5, 5, 8))
    config = qat.SqueezeExciteQuantizeConfig(per_channel=per_channel)

    weights = config.get_weights_and_quantizers(layer)
    # reduce.bias rides along unquantized, only to keep the wrapper's weight order the block's.
    assert [w for w, _ in weights] == [layer.reduce.kernel, layer.reduce.bias, layer.expand.kernel]
    kernel = dict(type="LastValueQuantizer", num_bits=8, per_axis=per_channel, symmetric=True, narrow_range=True)
    assert [_quantizer_settings(q) for _, q in weights] == [kernel, dict(type="_Unquantized"), kernel]
    activations = config.get_activations_and_quantizers(layer)
    assert [q.prefix for _, q in activations] == points
    assert all(_quantizer_settings(q) == ACTIVATION for _, q in activations)
    assert [_quantizer_settings(q) for q in config.get_output_quantizers(layer)] == [ACTIVATION]


@pytest.mark.parametrize(
    "config",
    [
        qat.OutputQuantizeConfig(),
        qat.OutputQuantizeConfig(quantize_output=False),
        qat.InputNormalizationQuantizeConfig(),
        qat.SqueezeExciteQuantizeConfig(),
        qat.SqueezeExciteQuantizeConfig(False),
    ],
    ids=["output", "no-output", "normalization", "se", "se-per-tensor"],
)
def test_configs_serialize_inside_quantize_scope(config):
    wrapper = _keras_q.QuantizeWrapperV2(HardSwish(name="hs"), config)
    serialized = wrapper.get_config()
    with qat.quantize_scope():
        restored = _keras_q.QuantizeWrapperV2.from_config(serialized)
    assert type(restored.quantize_config) is type(config)
    assert restored.quantize_config.get_config() == config.get_config()
    with pytest.raises(ValueError):  # tfmot alone does not know our configs
        _keras_q.QuantizeWrapperV2.from_config(serialized)


def _se_model():
    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((6, 6, 3))
    x = InputNormalization(1 / 127.5, -1.0, name="normalize")(inputs)
    x = tf_keras.layers.Conv2D(8, 1, name="conv")(x)
    x = SqueezeExcite(4, activation="hard_swish", gate="hard_sigmoid", name="se")(x)
    return tf_keras.Model(inputs, x, name="se_model")


@pytest.fixture(scope="module")
def se_models():
    """A float model with our layers, its QAT twin after one step, and pixel images."""
    images = np.random.default_rng(0).uniform(0, 255, size=(2, 6, 6, 3)).astype("float32")
    float_model = _se_model()
    wrapped = qat.quantize(float_model)
    wrapped.compile(optimizer=tf_keras.optimizers.SGD(1e-5), loss="mse")
    wrapped.fit(images, float_model.predict(images, verbose=0), verbose=0)
    return float_model, wrapped, images


def test_wrapped_squeeze_excite_follows_the_float_block(se_models):
    float_model, wrapped, images = se_models
    names = [w.name for w in wrapped.get_layer("quant_se").weights]
    assert len(set(names)) == len(names), names  # two kernels, three points: each range its own variable
    # Ranges start at [-6, 6]: one int8 step is 12 / 255.
    np.testing.assert_allclose(wrapped.predict(images, verbose=0), float_model.predict(images, verbose=0), atol=0.15)


@pytest.mark.parametrize("fmt", ["h5", "savedmodel"])
def test_qat_model_saves_and_loads_inside_quantize_scope(se_models, tmp_path, fmt):
    """h5 and SavedModel round-trip (tfmot 0.8.1's QuantizeLayer does not load from the .keras format)."""
    _, wrapped, images = se_models
    path = tmp_path / ("qat.h5" if fmt == "h5" else "qat_savedmodel")
    wrapped.save(path)
    with qat.quantize_scope():
        loaded = tf_keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), wrapped.predict(images, verbose=0))


def test_batch_norm_after_a_conv_is_folded_and_a_standalone_one_gets_a_range():
    inputs = tf_keras.Input((8, 8, 3))
    x = tf_keras.layers.Conv2D(4, 3, use_bias=False, name="conv")(inputs)
    x = tf_keras.layers.BatchNormalization(name="folded")(x)
    x = tf_keras.layers.ReLU(name="relu")(x)
    x = tf_keras.layers.BatchNormalization(name="standalone")(x)
    wrapped = qat.quantize(tf_keras.Model(inputs, x))
    assert not isinstance(wrapped.get_layer("quant_folded").quantize_config, qat.OutputQuantizeConfig)
    assert type(wrapped.get_layer("quant_standalone").quantize_config) is qat.OutputQuantizeConfig


def test_quantize_leaves_the_float_model_alone(tiny_classifier):
    before = [w.copy() for w in tiny_classifier.get_weights()]
    wrapped = qat.quantize(tiny_classifier)
    assert wrapped is not tiny_classifier
    assert all(np.array_equal(a, b) for a, b in zip(before, tiny_classifier.get_weights()))
    assert all(len(layer.inbound_nodes) <= 1 for layer in tiny_classifier.layers)


def test_input_range_starts_at_the_pixel_grid(tiny_classifier):
    wrapped = qat.quantize(tiny_classifier)
    [variables] = [layer.quantizer_vars for layer in wrapped.layers if type(layer).__name__ == "QuantizeLayer"]
    assert (float(variables["min_var"]), float(variables["max_var"])) == qat.PIXEL_RANGE
    with pytest.raises(UserError, match="low < high"):
        qat.quantize(tiny_classifier, input_range=(1.0, 1.0))


# --- the int8 file follows the QAT model -------------------------------------------------


@pytest.fixture(scope="module")
def trained_qat(tiny_classifier, calibration_images):
    """The tiny classifier trained with QAT on 16 real photos until it is confident, and its int8 file.

    Confident scores make the comparison mean something: an untrained model's
    near-uniform scores agree with anything.
    """
    tf_keras.utils.set_random_seed(0)
    wrapped = qat.quantize(tiny_classifier)
    labels = np.arange(len(calibration_images)) % 10
    wrapped.compile(optimizer=tf_keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    wrapped.fit(calibration_images, labels, batch_size=len(labels), epochs=40, verbose=0)
    buf = convert.convert(wrapped, mode="int8", calibration=[calibration_images], show_progress=False)
    return wrapped, buf


def test_int8_file_follows_the_qat_model(trained_qat, calibration_images):
    wrapped, buf = trained_qat
    summary = tflite_file.summarize(buf)
    assert summary.fully_integer, [t.name for t in summary.float_tensors]
    scores = evaluate.predict(buf, calibration_images, show_progress=False)
    reference = wrapped.predict(calibration_images, verbose=0)
    assert reference.max(axis=1).mean() > 0.5  # it learned: scores far from uniform
    agreement = evaluate.compare(reference, scores)
    assert agreement.top1 == 1.0 and agreement.max_abs_diff < 0.05, agreement  # 0.02 when written


def test_calibration_starts_activation_ranges_at_the_data_and_changes_nothing_else():
    float_model = _se_model()
    images = np.random.default_rng(2).uniform(0, 255, size=(8, 6, 6, 3)).astype("float32")
    plain, calibrated = qat.quantize(float_model), qat.quantize(float_model, calibration=images)
    ranges = {
        v.name: float(v.numpy().min()) if v.name.endswith("_min:0") else float(v.numpy().max())
        for v in calibrated.variables
        if v.name.endswith(("_min:0", "_max:0"))
    }
    # InputNormalization maps pixels 0..255 to [-1, 1]: its output range now says so, not [-6, 6].
    normalize = {k: v for k, v in ranges.items() if k.startswith("quant_normalize/output")}
    assert normalize == pytest.approx(
        {"quant_normalize/output_min:0": -1.0, "quant_normalize/output_max:0": 1.0}, abs=0.02
    )
    [variables] = [layer.quantizer_vars for layer in calibrated.layers if type(layer).__name__ == "QuantizeLayer"]
    assert (float(variables["min_var"]), float(variables["max_var"])) == qat.PIXEL_RANGE  # the input's grid stays
    # The SE output after one pass: the block's own output extremes.
    outputs = float_model.predict(images, verbose=0)
    assert ranges["quant_se/output_max:0"] == pytest.approx(max(outputs.max(), 0), rel=0.05)
    for ours, theirs in zip(calibrated.variables, plain.variables):
        if not ours.name.endswith(("_min:0", "_max:0")):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.name)
    with pytest.raises(UserError, match="do not fit the model's input"):
        qat.calibrate_ranges(calibrated, images[:, :4])


def _bias_scale_errors(buf: bytes) -> list[str]:
    """Biased ops whose int32 bias scale is not input scale x weight scale (what integer kernels assume)."""
    model = tflite_file.read(buf)
    graph, errors = model.subgraphs[0], []
    for op in graph.operators:
        if tflite_file.op_name(model, op.opcodeIndex) in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            data, weights, bias = (graph.tensors[i] for i in op.inputs[:3])
            expected = data.quantization.scale[0] * np.asarray(weights.quantization.scale)
            if not np.allclose(bias.quantization.scale, expected, rtol=1e-4):
                errors.append(bias.name.decode())
    return errors


def test_int8_squeeze_excite_keeps_its_qat_ranges_and_consistent_bias_scales(se_models):
    """QAT ranges (still near their [-6, 6] start) differ from calibrated ones; the file must follow QAT.

    The converter gives the gate convolution's bias the calibrated input's
    scale while its input keeps the QAT range; unrepaired, the gate saturates
    and the block's output is off by about its own size.
    """
    _, wrapped, images = se_models
    calibration = np.random.default_rng(1).uniform(0, 255, size=(16, 6, 6, 3)).astype("float32")
    raw = convert.convert(wrapped, mode="int8", calibration=[calibration], io="float32", show_progress=False)
    reference = wrapped.predict(calibration, verbose=0)
    fixed = evaluate.predict(raw, calibration, show_progress=False).reshape(reference.shape)
    assert _bias_scale_errors(raw) == []
    assert np.abs(fixed - reference).max() < 0.1 * np.abs(reference).max()


# --- what cannot be wrapped ---------------------------------------------------------------


def _functional(*layers, shape=(8, 8, 3)):
    inputs = tf_keras.Input(shape)
    x = inputs
    for layer in layers:
        x = layer(x)
    return tf_keras.Model(inputs, x, name="user_model")


def _nested():
    inner = _functional(tf_keras.layers.Conv2D(2, 1))
    inner._name = "inner"
    return _functional(inner)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: "model.h5", "tf_keras.Model, got str"),
        (lambda: tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(2)]), "functional models"),
        (lambda: _functional(tf_keras.layers.Lambda(lambda t: t * 2, name="double")), "'double' is a Lambda"),
        (lambda: _functional(tf_keras.layers.LayerNormalization(name="norm")), "'norm' is a .*LayerNormalization"),
        (_nested, "'inner' is a nested model"),
        (lambda: _functional(tf_keras.layers.Activation("elu", name="act")), "'act' .*activation 'elu'"),
        (lambda: _functional(tf_keras.layers.Conv2D(2, 1, activation="relu6", name="c6")), "'c6' .*'relu6'"),
        (lambda: qat.quantize(_functional(tf_keras.layers.Conv2D(2, 1, name="c"))), "already quantized"),
    ],
    ids=["not-a-model", "sequential", "lambda", "layer-norm", "nested", "elu", "conv-relu6", "twice"],
)
def test_what_tfmot_cannot_wrap_is_a_user_error(make, message):
    with pytest.raises(UserError, match=message):
        qat.quantize(make())
