"""The issue's main job at full size: zoo models to fully-integer files with ImageNet labels."""

import pytest
from click.testing import CliRunner

from mobilekit.cli.main import cli
from mobilekit.export import metadata, tflite_file


@pytest.mark.slow
@pytest.mark.parametrize("name", ["efficientnet_b0", "mobilenet_v3_large", "mobilenet_v3_small", "mobilenet_v2"])
def test_convert_int8_at_native_resolution(tmp_path, name):
    output = tmp_path / f"{name}.tflite"
    result = CliRunner().invoke(
        cli,
        [
            "convert",
            "--model",
            name,
            "--int8",
            "--weights",
            "none",
            "--calib-steps",
            "10",
            "--output",
            str(output),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    buf = output.read_bytes()
    summary = tflite_file.summarize(buf)
    assert summary.fully_integer, [t.name for t in summary.float_tensors]
    assert summary.inputs[0].shape == (1, 224, 224, 3) and summary.inputs[0].dtype == "uint8"
    # int8 hard-swish is lowered to ops XNNPACK runs (export.lowering): one partition at full size too
    assert "HARD_SWISH" not in summary.ops
    assert "in 1 partition" in CliRunner().invoke(cli, ["inspect", str(output)]).output
    labels = metadata.labels(buf)
    assert len(labels) == 1000 and labels[0] == "tench"
