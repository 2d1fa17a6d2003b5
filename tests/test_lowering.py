"""Int8 hard-swish lowered for the CPU delegate (export.lowering), checked on files the LiteRT interpreter runs."""

from __future__ import annotations

import numpy as np
import pytest
import tf_keras

from mobilekit.export import convert, lowering, tflite_file
from mobilekit.models.layers import HardSwish, SqueezeExcite
from mobilekit.runtime import coverage
from mobilekit.runtime.interpreter import TFLiteModel

RESOLUTION = 32


def _mobilenet_v3_like(*, residual_after_hard_swish: bool = False, hard_swish_output: bool = False):
    """Raw pixels -> conv, hard-swish, depthwise, hard-swish, squeeze-excite (hard-sigmoid gate), 1x1 conv,
    pooled logits: every place MobileNetV3 puts a hard-swish, at 32 px."""
    tf_keras.utils.set_random_seed(1)
    inputs = tf_keras.Input((RESOLUTION, RESOLUTION, 3))
    x = tf_keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = tf_keras.layers.Conv2D(16, 3, strides=2, padding="same")(x)
    x = HardSwish(name="stem_hard_swish")(x)
    if hard_swish_output:
        return tf_keras.Model(inputs, x)
    shortcut = x
    x = tf_keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = HardSwish()(x)
    if residual_after_hard_swish:
        x = tf_keras.layers.Add()([x, shortcut])
    x = SqueezeExcite(8, activation="relu", gate="hard_sigmoid")(x)
    x = tf_keras.layers.Conv2D(24, 1)(x)
    x = HardSwish()(x)
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf_keras.layers.Dense(10)(x)
    return tf_keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def model():
    return _mobilenet_v3_like()


@pytest.fixture(scope="module")
def files(model, calibration_images):
    def to_int8(keep):
        return convert.convert(
            model,
            mode="int8",
            calibration=[calibration_images],
            io="float32",
            keep_hard_swish=keep,
            show_progress=False,
        )

    return {"lowered": to_int8(False), "stock": to_int8(True)}


def test_lowered_file_runs_whole_in_xnnpack(files):
    ops = tflite_file.summarize(files["lowered"]).ops
    assert "HARD_SWISH" not in ops
    assert tflite_file.summarize(files["lowered"]).fully_integer
    assert coverage.xnnpack_coverage(files["lowered"]).whole
    stock = coverage.xnnpack_coverage(files["stock"])
    assert stock.left_out == {"HARD_SWISH": 3} and stock.partitions == 4


def test_lowering_folds_every_constant_multiply(files):
    """Three hard-swish ops become an ADD and a MUL each; the hard-sigmoid gate's MUL by 1/6 is folded."""
    stock = tflite_file.summarize(files["stock"]).ops
    lowered = tflite_file.summarize(files["lowered"]).ops
    assert lowered.get("ADD", 0) == stock.get("ADD", 0) + 3
    # one MUL more per hard-swish, one fewer for the gate's 1/6 (the input's rescale stays: an ADD reads it)
    assert lowered["MUL"] == stock["MUL"] + 3 - 1


def test_lowered_file_computes_what_the_stock_file_does(model, files, calibration_images):
    images = calibration_images
    float_scores = model.predict(images, verbose=0)
    stock = TFLiteModel(files["stock"])(images)
    lowered = TFLiteModel(files["lowered"])(images)
    spread = float(np.ptp(float_scores))
    # The one new rounding is relu6(x + 3) on a 6/255 grid: far below the int8 error itself.
    assert np.abs(lowered - stock).max() <= 0.05 * spread
    assert np.abs(lowered - float_scores).max() <= 0.1 * spread


@pytest.mark.parametrize(
    "variant, more_muls",
    [
        ("residual_after_hard_swish", 2 * 2 + 1 - 1),  # two keep MUL(x, t) and a MUL by 1/6, one folds; gate folds
        ("hard_swish_output", 2),  # MUL(x, t) and a MUL by 1/6
    ],
)
def test_a_hard_swish_whose_readers_cannot_take_the_sixth_keeps_it_as_a_multiply(
    variant, more_muls, calibration_images
):
    """An ADD reads both hard-swish values before the squeeze-excite; a graph output is read by the app:
    ADD, MUL and a MUL by 1/6, all in the delegate."""
    model = _mobilenet_v3_like(**{variant: True})
    buf = convert.convert(model, mode="int8", calibration=[calibration_images], io="int8", show_progress=False)
    stock = convert.convert(
        model, mode="int8", calibration=[calibration_images], io="int8", keep_hard_swish=True, show_progress=False
    )
    ops, stock_ops = tflite_file.summarize(buf).ops, tflite_file.summarize(stock).ops
    assert "HARD_SWISH" not in ops and coverage.xnnpack_coverage(buf).whole
    assert ops["MUL"] - stock_ops.get("MUL", 0) == more_muls
    scores = TFLiteModel(buf)(calibration_images)
    reference = model.predict(calibration_images, verbose=0)
    assert np.abs(scores - reference).max() <= 0.1 * float(np.ptp(reference))


def test_a_layer_without_signal_is_x_over_2_and_folds_away(model, files, calibration_images):
    """With almost no signal (random weights shrink MobileNetV3's activations block by block) XNNPACK's
    int8 ADD would refuse the input's scale, and hard-swish is x / 2 to within the output's rounding:
    no op is left for it."""
    quiet = tf_keras.models.clone_model(model)
    quiet.set_weights(model.get_weights())
    stem, depthwise = quiet.layers[2], quiet.layers[4]
    kernel, bias = stem.get_weights()
    stem.set_weights([kernel * 1e-6, bias * 1e-6])
    kernel, bias = depthwise.get_weights()
    depthwise.set_weights([kernel, np.linspace(-2.0, 2.0, bias.size).astype(bias.dtype)])  # signal again
    buf = convert.convert(quiet, mode="int8", calibration=[calibration_images], io="float32", show_progress=False)
    ops = tflite_file.summarize(buf).ops
    lowered = tflite_file.summarize(files["lowered"]).ops
    assert "HARD_SWISH" not in ops and coverage.xnnpack_coverage(buf).whole
    # the stem's hard-swish left no ADD and no MUL behind
    assert ops.get("ADD", 0) == lowered.get("ADD", 0) - 1 and ops["MUL"] == lowered["MUL"] - 1
    stock = convert.convert(
        quiet, mode="int8", calibration=[calibration_images], io="float32", keep_hard_swish=True, show_progress=False
    )
    reference = TFLiteModel(stock)(calibration_images)
    assert np.abs(TFLiteModel(buf)(calibration_images) - reference).max() <= 0.05 * float(np.ptp(reference))


def test_lowering_leaves_float_files_alone(model, calibration_images):
    buf = convert.convert(model, mode="float32", show_progress=False)
    assert tflite_file.summarize(buf).ops.get("HARD_SWISH") == 3
    assert lowering.lower(buf) == buf


def test_a_qat_model_gives_the_same_lowered_graph_and_agrees_with_its_file(model, files, calibration_images):
    """QAT fake-quantizes relu6(x + 3) on [0, 6]; the converter writes ADD, MUL and a MUL by 1/6, which
    the lowering folds: the same ops as the post-training file, all in XNNPACK."""
    from mobilekit.optimize import qat

    trainable = qat.quantize(model, calibration=calibration_images)
    buf = convert.convert(trainable, mode="int8", calibration=[calibration_images], io="float32", show_progress=False)
    assert tflite_file.summarize(buf).ops == tflite_file.summarize(files["lowered"]).ops
    assert coverage.xnnpack_coverage(buf).whole
    reference = trainable.predict(calibration_images, verbose=0)
    scores = TFLiteModel(buf)(calibration_images)
    assert np.abs(scores - reference).max() <= 0.02 * float(np.ptp(reference))


def test_a_valid_average_pool_becomes_the_depthwise_convolution_it_equals(calibration_images):
    """DenseNet's transitions: XNNPACK has no int8 AVERAGE_POOL_2D; a VALID pool is a depthwise conv of 1/4s."""
    tf_keras.utils.set_random_seed(2)
    inputs = tf_keras.Input((RESOLUTION, RESOLUTION, 3))
    x = tf_keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = tf_keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = tf_keras.layers.AveragePooling2D(2)(x)
    x = tf_keras.layers.Conv2D(8, 3, padding="same")(x)
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(10)(x))
    buf = convert.convert(model, mode="int8", calibration=[calibration_images], io="int8", show_progress=False)
    ops = tflite_file.summarize(buf).ops
    assert "AVERAGE_POOL_2D" not in ops and ops["DEPTHWISE_CONV_2D"] == 1
    assert coverage.xnnpack_coverage(buf).whole
    reference = model.predict(calibration_images, verbose=0)
    assert np.abs(TFLiteModel(buf)(calibration_images) - reference).max() <= 0.05 * float(np.ptp(reference))


def test_gpu_refusals_name_ops_without_a_gpu_kernel(files):
    """LiteRT's GPU delegate has kernels for every op of the zoo's files; a custom op it does not know is named."""
    assert coverage.gpu_refusals(files["lowered"]) == {}
    model = tflite_file.read(files["lowered"])
    code = model.operatorCodes[0]
    code.builtinCode = code.deprecatedBuiltinCode = tflite_file.schema.BuiltinOperator.CUSTOM
    code.customCode = "MadeUpOp"
    assert coverage.gpu_refusals(tflite_file.write(model)) == {
        "CUSTOM:MadeUpOp": "custom op MadeUpOp has no GPU kernel"
    }


def test_coverage_walks_each_partition_back_from_its_outputs():
    """Ops 0-1 in a first partition, op 2 on the interpreter, op 3 in a second (node list as LiteRT gives it)."""

    def node(index, name, inputs, outputs):
        return {"index": index, "op_name": name, "inputs": inputs, "outputs": outputs}

    nodes = [
        node(0, "CONV_2D", [0, 10], [1]),
        node(1, "ADD", [1, 11], [2]),
        node(2, "HARD_SWISH", [2], [3]),
        node(3, "CONV_2D", [3, 12], [4]),
        node(4, "DELEGATE", [0], [2]),
        node(5, "DELEGATE", [3], [4]),
    ]
    split = coverage.coverage_of(nodes)
    assert (split.ops, split.delegated, split.partitions, split.left_out) == (4, 3, 2, {"HARD_SWISH": 1})
    assert not split.whole
    assert split.describe() == "XNNPACK runs 3 of 4 ops in 2 partitions; on the interpreter: HARD_SWISH 1"


def test_a_strided_1x1_max_pool_becomes_an_identity_depthwise_convolution(calibration_images):
    """ResNet v2's shortcuts: XNNPACK takes no 1x1 pool; a 1x1 depthwise of weight 1 picks the same values."""
    tf_keras.utils.set_random_seed(3)
    inputs = tf_keras.Input((RESOLUTION, RESOLUTION, 3))
    x = tf_keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = tf_keras.layers.Conv2D(8, 3, padding="same")(x)
    x = tf_keras.layers.MaxPooling2D(1, strides=2)(x)
    x = tf_keras.layers.Conv2D(8, 3, padding="same")(x)
    model = tf_keras.Model(inputs, x)
    buf = convert.convert(model, mode="int8", calibration=[calibration_images], io="int8", show_progress=False)
    assert "MAX_POOL_2D" not in tflite_file.summarize(buf).ops and coverage.xnnpack_coverage(buf).whole
    reference = model.predict(calibration_images, verbose=0)
    assert np.abs(TFLiteModel(buf)(calibration_images) - reference).max() <= 0.05 * float(np.ptp(reference))


def test_a_constant_too_fine_for_xnnpacks_add_is_requantized(calibration_images):
    """A per-channel offset near zero (batch norm after a concatenation, MixNet) gets a scale under 2^-10 of
    the ADD's output; requantized onto 2^-10 it is still far below one output step."""
    tf_keras.utils.set_random_seed(4)
    inputs = tf_keras.Input((RESOLUTION, RESOLUTION, 3))
    x = tf_keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = tf_keras.layers.Concatenate()(
        [tf_keras.layers.Conv2D(4, 3, padding="same")(x), tf_keras.layers.Conv2D(4, 5, padding="same")(x)]
    )
    norm = tf_keras.layers.BatchNormalization()
    x = tf_keras.layers.Conv2D(8, 1)(norm(x))
    model = tf_keras.Model(inputs, x)
    norm.set_weights([np.linspace(0.5, 2.0, 8), np.linspace(-1e-6, 1e-6, 8), np.zeros(8), np.ones(8)])
    buf = convert.convert(model, mode="int8", calibration=[calibration_images], io="int8", show_progress=False)
    assert "ADD" in tflite_file.summarize(buf).ops and coverage.xnnpack_coverage(buf).whole
    reference = model.predict(calibration_images, verbose=0)
    assert np.abs(TFLiteModel(buf)(calibration_images) - reference).max() <= 0.05 * float(np.ptp(reference))
