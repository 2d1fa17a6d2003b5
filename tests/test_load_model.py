"""`mobilekit.load_model` reads what every stage saves, in a fresh interpreter after a bare `import mobilekit`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import mobilekit
from mobilekit.errors import UserError

FRESH = """
import json, sys
import numpy as np
import mobilekit
images = np.load(sys.argv[1])
print(json.dumps({path: mobilekit.load_model(path).predict(images, verbose=0).tolist() for path in sys.argv[2:]}))
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A model of the zoo's own layers (input normalization, hard-swish, squeeze-excite) as .keras, and
    its QAT and pruned forms as .h5, as train and the recipe stages save them; with their outputs."""
    import tf_keras

    from mobilekit.models.layers import TO_MINUS_ONE_ONE, SqueezeExcite, activation_layer
    from mobilekit.optimize import prune, qat
    from mobilekit.train import save_model_atomic

    folder = tmp_path_factory.mktemp("saved")
    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((16, 16, 3))
    x = TO_MINUS_ONE_ONE.layer()(inputs)
    x = tf_keras.layers.Conv2D(8, 3, strides=2, padding="same")(x)
    x = activation_layer("hard_swish")(x)
    x = SqueezeExcite(4, gate="hard_sigmoid")(x)
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(3, activation="softmax")(x))
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype(np.float32)
    forms = {"best.keras": model, "qat.h5": qat.quantize(model), "pruned.h5": prune.prune(model, end_step=100, skip=())}
    expected = {}
    for name, form in forms.items():
        save_model_atomic(form, folder / name)
        expected[str(folder / name)] = form.predict(images, verbose=0)
    np.save(folder / "images.npy", images)
    return folder, expected


def test_every_saved_form_loads_after_a_bare_import(saved):
    folder, expected = saved
    done = subprocess.run(
        [sys.executable, "-c", FRESH, str(folder / "images.npy"), *expected],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    for path, scores in expected.items():
        np.testing.assert_allclose(loaded[path], scores, atol=1e-5, err_msg=path)


@pytest.mark.parametrize(
    "name, message",
    [
        ("missing.keras", "does not exist"),
        ("model.weights.h5", "holds weights only"),
        ("model.tflite", "is not a saved Keras model"),
        ("garbage.keras", "cannot load a model from"),
    ],
)
def test_bad_paths_are_user_errors(tmp_path, name, message):
    if name != "missing.keras":
        (tmp_path / name).write_bytes(b"not a model")
    with pytest.raises(UserError, match=message):
        mobilekit.load_model(tmp_path / name)
