"""The tf_keras.applications model each weight-compatible zoo model matches, and its ImageNet files.

`KERAS_COUNTERPARTS` is the one table: zoo model name -> how to call the keras
function, where keras keeps the ImageNet weights (download folder, file name),
which preprocessing the keras model expects, and the settings keras publishes
weights for. weights.py loads what it describes; the registry marks the models
that have a row here as weight-compatible (`info(name).imagenet_weights`).

Two things the public tf_keras API does not export are read from its private
modules, here only (`keras_attribute`): the download folders and EfficientNet's
generic builder (the public EfficientNetB0..B7 take no width or dropout).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from typing import TYPE_CHECKING, Callable, NoReturn

from mobilekit.errors import UserError
from mobilekit.models.scaling import EFFICIENTNET_SCALES, CompoundScale

if TYPE_CHECKING:
    from mobilekit.models.registry import BuildSettings

IMAGENET_CLASSES = 1000


@dataclasses.dataclass(frozen=True)
class ImagenetWeights:
    """Where keras.applications keeps the ImageNet weights for some settings.

    file_name: the file keras expects in its cache folder (~/.keras/models).
    url: where keras downloads it from.
    settings: the settings to build the keras counterpart with, to load them
        (weights do not depend on resolution; keras insists on its own default
        resolution for some models).
    """

    file_name: str
    url: str
    settings: BuildSettings


def no_imagenet(what: str, why: str, fix: str) -> NoReturn:
    """Raise the UserError for a model, or settings, keras.applications publishes no ImageNet weights for."""
    raise UserError(f"keras.applications publishes no ImageNet weights for {what}: {why}. {fix}")


def keras_attribute(path: str):
    """`tf_keras.applications.<path>` for a public name ("VGG16"); a dotted path
    ("resnet.BASE_WEIGHTS_PATH") names something in tf_keras' private applications modules."""
    import tf_keras

    if "." not in path:
        return getattr(tf_keras.applications, path)
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(f"tf_keras.src.applications.{module}"), name)


def _keras_preprocess(mode: str, pixels):
    from tf_keras.applications import imagenet_utils

    return imagenet_utils.preprocess_input(pixels, mode=mode)


def _either(values) -> str:
    """(0.75, 1.0) -> '0.75 or 1'."""
    texts = [f"{value:g}" for value in values]
    return texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} or {texts[-1]}"


def _as_written(*alphas: float) -> dict[float, str]:
    """Alphas spelled as keras writes them in file names: str(float), '0.35', '1.0'."""
    return {float(alpha): str(float(alpha)) for alpha in alphas}


@dataclasses.dataclass(frozen=True)
class KerasCounterpart:
    """One row of the table: a keras.applications model and its ImageNet weights.

    name: the zoo model.
    function: the keras function (a `keras_attribute` path), called with
        include_top, weights, classes and input_shape, and with
    alpha_argument: its width multiplier, given base_width * alpha (EfficientNet's
        width coefficient); None: keras has the published width only;
    dropout_argument: its dropout rate; None: it takes none;
    fixed: further arguments, always the same.
    folder: the `keras_attribute` path of a URL in the folder that holds the files.
    file: the file name; {alpha} (its spelling in `alphas`), {rows} and {top} are filled in.
    top: what {top} reads with and without the classifier.
    preprocessing: the `preprocess_input` mode keras' model expects ("caffe", "tf",
        "torch"); None: keras' model preprocesses inside, as ours does.
    alphas: the alphas keras publishes weights for -> their spelling in file names.
    resolutions: resolutions keras has weights trained at ({rows}; at any other the
        224 px ones load); keras' model is built at {rows} to load them.
    load_resolution: the resolution keras insists on with ImageNet weights (they do
        not depend on it); None: the model's.
    top_resolution: the only resolution the classifier's weights fit (VGG flattens
        the feature map into fc1); None: any.
    adopt(model, source): fixes up our model after weights were copied over from a
        keras model ("imagenet") or a keras weights file ("file"); None: nothing to do.
    """

    name: str
    function: str
    folder: str
    file: str
    top: tuple[str, str]
    preprocessing: str | None
    alpha_argument: str | None = None
    base_width: float = 1.0
    dropout_argument: str | None = None
    fixed: tuple[tuple[str, object], ...] = ()
    alphas: dict[float, str] = dataclasses.field(default_factory=lambda: _as_written(1.0))
    resolutions: tuple[int, ...] = ()
    load_resolution: int | None = None
    top_resolution: int | None = None
    adopt: Callable[[object, str], None] | None = None

    def build(self, settings: BuildSettings, weights):
        """keras' model for the same settings; `weights` goes to keras (None, "imagenet" or a path)."""
        arguments = dict(self.fixed)
        if self.alpha_argument is None:
            self._check_alpha(settings)
        else:
            arguments[self.alpha_argument] = self.base_width * settings.alpha
        if self.dropout_argument is not None:
            arguments[self.dropout_argument] = settings.dropout
        return keras_attribute(self.function)(
            include_top=settings.include_top,
            weights=weights,
            classes=settings.num_classes,
            input_shape=(settings.resolution, settings.resolution, 3),
            **arguments,
        )

    def imagenet(self, settings: BuildSettings) -> ImagenetWeights:
        """The ImageNet weights file for these settings; UserError where keras publishes none."""
        if settings.include_top and settings.num_classes != IMAGENET_CLASSES:
            no_imagenet(
                f"{self.name} with a {settings.num_classes}-class top",
                f"its classifier has {IMAGENET_CLASSES} ImageNet classes",
                f"Use num_classes={IMAGENET_CLASSES} (--num-classes {IMAGENET_CLASSES}), or include_top=False "
                "to fine-tune a new classifier, or weights=None.",
            )
        self._check_alpha(settings)
        if settings.include_top and self.top_resolution not in (None, settings.resolution):
            no_imagenet(
                f"{self.name} with its classifier at resolution {settings.resolution}",
                f"the classifier's weights fit a {self.top_resolution} px input only (fc1 takes the "
                "flattened last feature map)",
                f"Use resolution={self.top_resolution}, or include_top=False (any resolution), or weights=None.",
            )
        rows = settings.resolution if settings.resolution in self.resolutions else 224
        file_name = self.file.format(
            alpha=self.alphas[settings.alpha], rows=rows, top=self.top[0 if settings.include_top else 1]
        )
        folder = keras_attribute(self.folder).rsplit("/", 1)[0]
        resolution = self.load_resolution or (rows if self.resolutions else settings.resolution)
        return ImagenetWeights(file_name, f"{folder}/{file_name}", dataclasses.replace(settings, resolution=resolution))

    @property
    def preprocess(self) -> Callable[[object], object] | None:
        """Raw RGB pixels (a float numpy array, which it may modify) -> what keras' model takes; None: the same."""
        return None if self.preprocessing is None else functools.partial(_keras_preprocess, self.preprocessing)

    def _check_alpha(self, settings: BuildSettings) -> None:
        if settings.alpha not in self.alphas:
            no_imagenet(
                f"{self.name} at alpha {settings.alpha:g}",
                f"alpha must be {_either(self.alphas)}",
                "Pick one of these alphas, or use weights=None.",
            )


def _published_width(name: str, function: str, folder: str, preprocessing: str, **limits) -> KerasCounterpart:
    """VGG, ResNet, DenseNet: alpha 1 only; files `{name without _}_weights_tf_dim_ordering_tf_kernels[_notop].h5`."""
    stem = name.replace("_", "")  # resnet50_v2 -> resnet50v2
    return KerasCounterpart(
        name,
        function,
        folder,
        stem + "_weights_tf_dim_ordering_tf_kernels{top}",
        top=(".h5", "_notop.h5"),
        preprocessing=preprocessing,
        **limits,
    )


def _mobilenet_v3(name: str, function: str, *, minimalistic: bool) -> KerasCounterpart:
    variant = name.removeprefix("mobilenet_v3_")  # "large", "small_minimalistic", ...
    return KerasCounterpart(
        name,
        function,
        "mobilenet_v3.BASE_WEIGHT_PATH",
        f"weights_mobilenet_v3_{variant}_224_{{alpha}}_float{{top}}",
        top=(".h5", "_no_top_v2.h5"),
        preprocessing=None,
        alpha_argument="alpha",
        dropout_argument="dropout_rate",
        fixed=(("minimalistic", minimalistic), ("include_preprocessing", True)),
        alphas=_as_written(1.0) if minimalistic else _as_written(0.75, 1.0),
    )


# keras' EfficientNet ImageNet files hold the channel standard deviations where
# the Normalization variance belongs; keras.applications corrects this with an
# extra multiply by 1/sqrt(stddev) when weights="imagenet".
_KERAS_EFFICIENTNET_STDDEV = (0.229, 0.224, 0.225)


def _fold_efficientnet_stddev(model, source: str) -> None:
    """Fold keras' ImageNet 1/sqrt(stddev) correction into the normalization variance.

    keras computes (x/255 - mean) / sqrt(variance) / sqrt(stddev); with
    variance' = variance * stddev ours computes the same as one affine, and the
    correction travels with the weights (a saved .weights.h5 reloads right).
    For a keras weights file, applied when it holds keras' ImageNet statistics.
    """
    import numpy as np

    norm = model.get_layer("normalize")
    mean, variance, count = norm.get_weights()
    stddev = np.asarray(_KERAS_EFFICIENTNET_STDDEV, dtype=variance.dtype)
    if source == "imagenet" or (variance.shape == stddev.shape and (variance == stddev).all()):
        norm.set_weights([mean, variance * stddev, count])


def _efficientnet(name: str, scale: CompoundScale) -> KerasCounterpart:
    """keras' generic EfficientNet builder (what EfficientNetB0..B7 call), so that alpha and dropout reach it."""
    keras_name = name.replace("_", "")  # efficientnet_b0 -> efficientnetb0
    return KerasCounterpart(
        name,
        "efficientnet.EfficientNet",
        "efficientnet.BASE_WEIGHTS_PATH",
        keras_name + "{top}",
        top=(".h5", "_notop.h5"),
        preprocessing=None,
        alpha_argument="width_coefficient",
        base_width=scale.width,
        dropout_argument="dropout_rate",
        fixed=(("depth_coefficient", scale.depth), ("default_size", scale.resolution), ("model_name", keras_name)),
        load_resolution=scale.resolution,
        adopt=_fold_efficientnet_stddev,
    )


KERAS_COUNTERPARTS: dict[str, KerasCounterpart] = {
    row.name: row
    for row in (
        _published_width("vgg16", "VGG16", "vgg16.WEIGHTS_PATH", "caffe", top_resolution=224),
        _published_width("vgg19", "VGG19", "vgg19.WEIGHTS_PATH", "caffe", top_resolution=224),
        _published_width("resnet50", "ResNet50", "resnet.BASE_WEIGHTS_PATH", "caffe", load_resolution=224),
        _published_width("resnet101", "ResNet101", "resnet.BASE_WEIGHTS_PATH", "caffe", load_resolution=224),
        _published_width("resnet152", "ResNet152", "resnet.BASE_WEIGHTS_PATH", "caffe", load_resolution=224),
        _published_width("resnet50_v2", "ResNet50V2", "resnet.BASE_WEIGHTS_PATH", "tf", load_resolution=224),
        _published_width("resnet101_v2", "ResNet101V2", "resnet.BASE_WEIGHTS_PATH", "tf", load_resolution=224),
        _published_width("resnet152_v2", "ResNet152V2", "resnet.BASE_WEIGHTS_PATH", "tf", load_resolution=224),
        _published_width("densenet121", "DenseNet121", "densenet.BASE_WEIGHTS_PATH", "torch", load_resolution=224),
        _published_width("densenet169", "DenseNet169", "densenet.BASE_WEIGHTS_PATH", "torch", load_resolution=224),
        _published_width("densenet201", "DenseNet201", "densenet.BASE_WEIGHTS_PATH", "torch", load_resolution=224),
        KerasCounterpart(
            "mobilenet_v1",
            "MobileNet",
            "mobilenet.BASE_WEIGHT_PATH",
            "mobilenet_{alpha}_{rows}_tf{top}",
            top=(".h5", "_no_top.h5"),
            preprocessing="tf",
            alpha_argument="alpha",
            dropout_argument="dropout",
            alphas={0.25: "2_5", 0.5: "5_0", 0.75: "7_5", 1.0: "1_0"},
            resolutions=(128, 160, 192, 224),
        ),
        KerasCounterpart(
            "mobilenet_v2",
            "MobileNetV2",
            "mobilenet_v2.BASE_WEIGHT_PATH",
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{rows}{top}",
            top=(".h5", "_no_top.h5"),
            preprocessing="tf",
            alpha_argument="alpha",
            alphas=_as_written(0.35, 0.5, 0.75, 1.0, 1.3, 1.4),
            resolutions=(96, 128, 160, 192, 224),
        ),
        _mobilenet_v3("mobilenet_v3_large", "MobileNetV3Large", minimalistic=False),
        _mobilenet_v3("mobilenet_v3_small", "MobileNetV3Small", minimalistic=False),
        _mobilenet_v3("mobilenet_v3_large_minimalistic", "MobileNetV3Large", minimalistic=True),
        _mobilenet_v3("mobilenet_v3_small_minimalistic", "MobileNetV3Small", minimalistic=True),
        *(_efficientnet(name, scale) for name, scale in EFFICIENTNET_SCALES.items()),
    )
}
