import numpy as np
import pytest

from mobilekit import UserError
from mobilekit.export import convert, tflite_file
from mobilekit.runtime import evaluate


@pytest.fixture(scope="module")
def int8_files(tiny_classifier, calibration_images):
    return {
        io: convert.convert(tiny_classifier, mode="int8", calibration=[calibration_images], io=io, show_progress=False)
        for io in convert.IO_TYPES
    }


@pytest.mark.parametrize("io", convert.IO_TYPES)
def test_int8_is_fully_integer_with_requested_io(int8_files, io):
    summary = tflite_file.summarize(int8_files[io])
    assert summary.fully_integer, [t.name for t in summary.float_tensors]
    assert summary.inputs[0].dtype == io and summary.outputs[0].dtype == io
    assert summary.inputs[0].shape == (1, 32, 32, 3)


@pytest.mark.parametrize("io, zero_point", [("uint8", 0), ("int8", -128)])
def test_int8_input_is_pinned_to_raw_pixels(int8_files, io, zero_point):
    (tensor,) = tflite_file.summarize(int8_files[io]).inputs
    assert tensor.quantization.scale == (1.0,)
    assert tensor.quantization.zero_point == (zero_point,)


def test_int8_follows_the_float_model(int8_files, tiny_classifier, calibration_images):
    reference = tiny_classifier.predict(calibration_images, verbose=0)
    for buf in int8_files.values():
        scores = evaluate.predict(buf, calibration_images, show_progress=False)
        assert evaluate.compare(reference, scores).max_abs_diff < 0.05


def test_uint8_input_means_pixel_values(int8_files, calibration_images):
    """Feeding raw pixels as uint8 gives what the float path of the same file gives."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=int8_files["uint8"])
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    pixels = np.round(calibration_images[:1]).astype(np.uint8)
    interpreter.set_tensor(inp["index"], pixels)
    interpreter.invoke()
    direct = interpreter.get_tensor(out["index"])
    via_float = evaluate.predict(int8_files["uint8"], pixels.astype(np.float32), show_progress=False)
    scale, zero_point = out["quantization"]
    assert np.allclose((direct.astype(np.float32) - zero_point) * scale, via_float)


@pytest.mark.parametrize("mode, weight_type", [("float32", "float32"), ("fp16", "float16"), ("dynamic", "int8")])
def test_float_modes(tiny_classifier, calibration_images, mode, weight_type):
    buf = convert.convert(tiny_classifier, mode=mode, show_progress=False)
    summary = tflite_file.summarize(buf)
    assert summary.inputs[0].dtype == "float32"
    assert any(t.dtype == weight_type and t.is_constant for t in summary.tensors)
    reference = tiny_classifier.predict(calibration_images, verbose=0)
    scores = evaluate.predict(buf, calibration_images, show_progress=False)
    assert evaluate.compare(reference, scores).max_abs_diff < (1e-5 if mode == "float32" else 0.05)


def test_calibration_from_folder(tiny_classifier, photo_folder):
    buf = convert.convert(tiny_classifier, calibration=photo_folder, calibration_steps=4, show_progress=False)
    assert tflite_file.summarize(buf).fully_integer


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "int4"}, "unknown conversion mode"),
        ({"io": "int16"}, "unknown --io type"),
        ({"calibration": [np.zeros((1, 64, 64, 3))]}, "does not fit the model's input"),
        ({"calibration": []}, "gave no batches"),
    ],
)
def test_bad_arguments(tiny_classifier, kwargs, message):
    with pytest.raises(UserError, match=message):
        convert.convert(tiny_classifier, show_progress=False, **kwargs)


def test_a_bgr_flip_after_the_input_keeps_the_pinned_quantization(calibration_images):
    """keras' "caffe" models (VGG, ResNet) flip RGB to BGR first: SPLIT + CONCATENATION on the
    pinned input. Their outputs must carry the input's quantization, or XNNPACK refuses them."""
    import tf_keras

    from mobilekit.models.layers import CAFFE

    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((32, 32, 3))
    x = CAFFE.layer()(inputs)
    x = tf_keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(5, activation="softmax")(x))
    buf = convert.convert(model, mode="int8", calibration=[calibration_images], show_progress=False)

    summary = tflite_file.summarize(buf)
    assert summary.fully_integer and {"SPLIT", "CONCATENATION"} <= set(summary.ops)
    graph = tflite_file.read(buf).subgraphs[0]
    moved = [
        graph.tensors[i]
        for op in graph.operators
        for i in op.outputs
        if tflite_file.op_name(tflite_file.read(buf), op.opcodeIndex) in ("SPLIT", "CONCATENATION")
    ]
    assert len(moved) == 4 and all(list(t.quantization.scale) == [1.0] for t in moved)
    scores = evaluate.predict(buf, calibration_images, show_progress=False)  # XNNPACK prepares the graph
    agreement = evaluate.compare(model.predict(calibration_images, verbose=0), scores)
    assert agreement.top1 == 1.0 and agreement.max_abs_diff < 0.1  # raw-pixel logits are large: saturated
