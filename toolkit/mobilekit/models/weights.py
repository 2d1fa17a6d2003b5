"""Loading weights into zoo models: keras.applications' ImageNet files, or a file path.

ImageNet weights come from the keras.applications counterpart (its row in
keras_counterparts.KERAS_COUNTERPARTS): it is built with weights="imagenet"
(keras finds the file in its cache folder or downloads it) and its weights are
copied into ours in order. Without a cached file and
without a connection this fails within seconds with a UserError that names the
folder, the file and the alternatives -- it never waits on a download.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import threading
import urllib.parse

from mobilekit.errors import UserError
from mobilekit.formats import weights_source
from mobilekit.models.keras_counterparts import no_imagenet

WEIGHT_SUFFIXES = (".weights.h5", ".h5", ".keras")
PROBE_TIMEOUT_S = 5.0  # how long to wait for the weights host before calling the download off
DOWNLOAD_TIMEOUT_S = 60.0  # socket timeout while keras downloads (a stalled transfer fails, never hangs)


def keras_cache_dir() -> pathlib.Path:
    """The folder tf_keras' get_file keeps keras.applications weights in.

    Mirrors tf_keras.utils.get_file(cache_subdir="models"): ~/.keras/models, or
    /tmp/.keras/models when ~/.keras is not writable. (tf_keras ignores
    $KERAS_HOME here; only its config file is read from there.)
    """
    base = os.path.join(os.path.expanduser("~"), ".keras")
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp", ".keras")
    return pathlib.Path(base) / "models"


def _proxy_configured() -> bool:
    return any(os.environ.get(v) for v in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"))


def download_blocker(url: str, timeout: float | None = None) -> str | None:
    """Why `url` cannot be downloaded from here, or None if its host answers.

    Opens (and closes) a TCP connection to the host in a daemon thread, so a
    hanging DNS lookup or a firewall that drops packets costs `timeout` seconds
    at most (default PROBE_TIMEOUT_S). With a proxy configured, the proxy
    decides: no probe.
    """
    if _proxy_configured():
        return None
    timeout = PROBE_TIMEOUT_S if timeout is None else timeout
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    outcome: dict[str, str | None] = {}

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome["error"] = None
        except Exception as error:  # noqa: BLE001 -- any failure means "cannot download"
            outcome["error"] = f"cannot reach {host}: {error}"

    thread = threading.Thread(target=probe, name="mobilekit-weights-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if "error" not in outcome:
        return f"no answer from {host} within {timeout:g} s"
    return outcome["error"]


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _alternatives(file_name: str, url: str, folder: pathlib.Path) -> str:
    return (
        "Do one of:\n"
        "  - build with random weights: weights=None (CLI: --weights none);\n"
        "  - load a weights file you have: weights=PATH (CLI: --weights PATH; .h5, .weights.h5 or .keras,\n"
        "    keras.applications' own file works too);\n"
        f"  - on a machine with internet, download {url}\n"
        f"    and copy it into {folder}/ here (keeping the name {file_name})."
    )


def copy_weights(source, target) -> None:
    """target.set_weights(source.get_weights()) after checking count and shapes."""
    theirs = source.get_weights()
    ours = target.weights
    if len(theirs) != len(ours):
        raise ValueError(f"{len(theirs)} weight tensors where {target.name} has {len(ours)}")
    for index, (variable, array) in enumerate(zip(ours, theirs)):
        if tuple(variable.shape) != tuple(array.shape):
            raise ValueError(
                f"weight {index} ({variable.name}) has shape {tuple(array.shape)}, expected {tuple(variable.shape)}"
            )
    target.set_weights(theirs)


def find_imagenet(entry, settings, options=None):
    """The ImageNet weights file for `settings`, once it is known keras can get it.

    Raises UserError where keras publishes no weights for this model or these
    settings and options, or where the file is not in keras' cache and its
    host cannot be reached.
    """
    name = entry.info.name
    if entry.keras is None:
        no_imagenet(
            name,
            f"its reference is {entry.info.reference}, whose weights mobilekit does not convert",
            "Use weights=None (--weights none) to train it yourself, or weights=PATH with a file saved "
            f"from a mobilekit {name}.",
        )
    changed = ", ".join(f"{k}={v!r}" for k, v in (options or {}).items() if v != dict(entry.info.options)[k])
    if changed:
        no_imagenet(
            f"{name} with {changed}",
            "its weights exist at the default options only, and these change the layers",
            "Leave these options at their defaults, or use weights=None.",
        )
    weights = entry.keras.imagenet(settings)  # UserError where keras publishes none
    folder = keras_cache_dir()
    cached = folder / weights.file_name
    if not cached.is_file():
        blocker = download_blocker(weights.url)
        if blocker is not None:
            raise UserError(
                f"ImageNet weights for {entry.info.name} are not in keras' cache and cannot be downloaded "
                f"({blocker}).\nkeras looks for them at {cached}\n"
                + _alternatives(weights.file_name, weights.url, folder)
            )
    return weights


def load_imagenet(model, entry, weights) -> None:
    """Copy keras.applications' ImageNet weights (from `find_imagenet`) into `model`."""
    name = entry.info.name
    folder = keras_cache_dir()
    cached = folder / weights.file_name
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            reference = entry.keras.build(weights.settings, "imagenet")
    except Exception as error:  # keras raises bare Exception on download failures
        raise UserError(
            f"keras could not load ImageNet weights for {name} ({cached}): {error}\n"
            "If the cached file is damaged, delete it and try again.\n"
            + _alternatives(weights.file_name, weights.url, folder)
        ) from error
    try:
        copy_weights(reference, model)
    except ValueError as error:  # a bug, not a user mistake: our structure drifted from keras'
        raise RuntimeError(f"{name} is not weight-compatible with its keras counterpart: {error}") from error
    if entry.keras.adopt is not None:
        entry.keras.adopt(model, "imagenet")


def load_file(model, entry, settings, path: str) -> None:
    """Load a .h5 / .weights.h5 / .keras file into `model`.

    Files saved from a zoo model load directly. Files written for the
    keras.applications counterpart (its ImageNet .h5, or a keras model saved
    as .keras) are loaded into that model and copied over in order.
    """
    file = pathlib.Path(path).expanduser()
    expected = (
        f"{entry.info.name} at alpha {settings.alpha:g} with "
        + (f"a {settings.num_classes}-class top" if settings.include_top else "no top")
        + f" ({len(model.weights)} weight tensors)"
    )
    if not str(file).endswith(WEIGHT_SUFFIXES):
        raise UserError(
            f"weights {path!r} is neither 'imagenet', 'none' nor a weights file: expected a path ending "
            f"in {', '.join(WEIGHT_SUFFIXES)}. Pass weights=None for random weights."
        )
    if not file.is_file():
        raise UserError(
            f"weights file {file} does not exist. Expected a file with weights for {expected}; "
            "check the path, or pass weights=None / 'imagenet'."
        )
    try:
        model.load_weights(str(file))
        return
    except Exception as error:  # noqa: BLE001 -- try the keras-counterpart layout next
        direct_error = error
    if entry.keras is None:
        raise UserError(
            f"weights file {file} does not fit {expected}: {_first_line(direct_error)}\n"
            "Build the model with the settings the file was saved with (alpha, num_classes, include_top, "
            "options), or pass another file."
        ) from direct_error
    try:
        import tf_keras

        if file.suffix == ".keras":
            other = tf_keras.models.load_model(str(file), compile=False)
        else:
            other = entry.keras.build(settings, None)
            other.load_weights(str(file))
        copy_weights(other, model)
    except Exception as error:  # noqa: BLE001
        raise UserError(
            f"weights file {file} does not fit {expected}.\n"
            f"  as a mobilekit file: {_first_line(direct_error)}\n"
            f"  as a keras.applications file: {_first_line(error)}\n"
            "Build the model with the settings the file was saved with (alpha, num_classes, include_top), "
            "or pass another file."
        ) from error
    if entry.keras.adopt is not None:
        entry.keras.adopt(model, "file")


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


def copy_backbone(backbone, model) -> None:
    """Copy the weights of a zoo backbone (include_top=False) into the same zoo model with a top.

    The backbone's layers are the first layers of the full model, in the same
    order (the registry builds both from one function).
    """
    for theirs, ours in zip(backbone.layers, model.layers):
        if type(theirs) is not type(ours):
            raise RuntimeError(
                f"backbone layer {theirs.name} ({type(theirs).__name__}) does not line up with "
                f"{ours.name} ({type(ours).__name__}) of {model.name}"
            )
        copy_weights(theirs, ours)


def copy_by_name(source, target) -> int:
    """Copy the weights of every layer of `source` into `target`'s layer of the same name (a classifier's
    backbone into a model built on the same backbone); returns how many layers had weights."""
    copied = 0
    for layer in source.layers:
        if layer.weights:
            copy_weights(layer, target.get_layer(layer.name))
            copied += 1
    return copied


def build_with_weights(name: str, num_classes: int, weights, settings: dict):
    """The zoo model `name` with a `num_classes` top and `weights` (see `train.build_model`): ImageNet or a
    file's backbone under a new top when the file or keras has no top for these classes."""
    from mobilekit import models

    kind = _weights_kind(weights)
    if models.info(name).task != "classification":  # no classifier top to replace: ImageNet fills the backbone
        return models.build(name, weights=None if kind == "none" else weights, num_classes=num_classes, **settings)
    if kind == "none" or (kind == "imagenet" and num_classes == 1000):
        return models.build(name, weights=None if kind == "none" else "imagenet", num_classes=num_classes, **settings)
    if kind == "imagenet":
        backbone = models.build(name, weights="imagenet", include_top=False, **settings)
    else:
        try:
            return models.build(name, weights=weights, num_classes=num_classes, **settings)
        except UserError as whole_model_error:
            try:
                backbone = models.build(name, weights=weights, include_top=False, **settings)
            except UserError:
                raise whole_model_error from None
    model = models.build(name, weights=None, num_classes=num_classes, **settings)
    copy_backbone(backbone, model)
    return model


def _weights_kind(weights) -> str:
    source = weights_source(weights)
    return "none" if source is None else "imagenet" if source == "imagenet" else "file"
