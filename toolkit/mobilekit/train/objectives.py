"""What training minimizes and reports, per task (`formats.TASKS`).

Classification: sparse categorical cross-entropy; accuracy and, past five classes, top-5.
Segmentation: per-pixel cross-entropy over the pixels whose mask value is not `IGNORE`; mean IoU
over the classes and pixel accuracy. A segmentation model may predict at a fraction of the mask's
size (LR-ASPP at 1/8): its output is upsampled to the mask's size first (`to_mask_size`) the way
MediaPipe's ImageSegmenter makes its category mask -- bilinearly with the corner pixels aligned (its
CPU calculator; measured: 100% of its mask's pixels) -- so a model is trained and scored on the
geometry an app shows. (With half-pixel centres instead, the quickstart's int8 file scored 1.9 points
of mean IoU above what MediaPipe returns.) The loss upsamples the softmax's input (logits) where the
output carries it, as torchvision's LR-ASPP upsamples logits. The best checkpoint is chosen by `monitor`: (validation) accuracy or mean IoU.
"""

from __future__ import annotations

import tf_keras

from mobilekit.data.segmentation import IGNORE

MONITORS = {"classification": "accuracy", "segmentation": "miou"}
_EPSILON = 1e-7


def monitor(task: str, validation: bool) -> str:
    """The history key the best epoch is chosen by."""
    return ("val_" if validation else "") + MONITORS[task]


def to_mask_size(probabilities, masks):
    """(B, h, w, C) probabilities (or logits) resized to the (B, H, W) masks' size as MediaPipe resizes them
    (`upsample`; a no-op at that size)."""
    import tensorflow as tf

    if probabilities.shape[1:3] == masks.shape[1:3] and masks.shape[1] is not None:
        return probabilities
    return upsample(probabilities, tf.shape(masks)[1:3])


def upsample(values, size):
    """(B, h, w, C) -> (B, *size, C), bilinear with the corner pixels aligned: MediaPipe's category mask."""
    import tensorflow as tf

    # tf.image.resize has no corner alignment; this is the kernel tf.compat.v1's resize_bilinear calls.
    return tf.raw_ops.ResizeBilinear(images=values, size=size, align_corners=True, half_pixel_centers=False)


@tf_keras.utils.register_keras_serializable(package="mobilekit")
class PixelCrossEntropy(tf_keras.losses.Loss):
    """Cross-entropy of class probabilities per pixel against class masks, `IGNORE` pixels left out:
    per image, the mean over its counted pixels (0 for an image with none)."""

    def __init__(self, name="pixel_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        import tensorflow as tf

        masks = tf.cast(y_true, tf.int32)
        counted = tf.not_equal(masks, IGNORE)
        classes = tf.where(counted, masks, 0)
        # The softmax's input where keras left it on its output (as its own cross-entropy reads it): from
        # logits the loss keeps its gradient on pixels the model is sure of wrongly, where log(clipped
        # probability) has none -- the pixels of a digit it calls background with p < 1e-7.
        logits = getattr(y_pred, "_keras_logits", None)
        if logits is not None:
            per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(classes, to_mask_size(logits, masks))
        else:
            chosen = tf.gather(to_mask_size(y_pred, masks), classes, batch_dims=3)
            per_pixel = -tf.math.log(tf.clip_by_value(chosen, _EPSILON, 1.0))
        weights = tf.cast(counted, per_pixel.dtype)
        pixels = tf.reduce_sum(weights, axis=[1, 2])
        return tf.math.divide_no_nan(tf.reduce_sum(per_pixel * weights, axis=[1, 2]), pixels)


class _Confusion(tf_keras.metrics.Metric):
    """A confusion matrix of predicted (arg-max of the resized probabilities) against true classes per
    pixel, `IGNORE` pixels left out; summed over replicas and batches until `reset_state`."""

    def __init__(self, num_classes: int, name: str, **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.confusion = self.add_weight(
            "confusion", shape=(self.num_classes, self.num_classes), initializer="zeros", dtype="float64"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        import tensorflow as tf

        masks = tf.cast(y_true, tf.int32)
        predicted = tf.argmax(to_mask_size(y_pred, masks), axis=-1, output_type=tf.int32)
        counted = tf.not_equal(masks, IGNORE)
        matrix = tf.math.confusion_matrix(
            tf.boolean_mask(masks, counted),
            tf.boolean_mask(predicted, counted),
            num_classes=self.num_classes,
            dtype=tf.float64,
        )
        self.confusion.assign_add(matrix)

    def reset_state(self):
        self.confusion.assign(tf_keras.backend.zeros_like(self.confusion))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@tf_keras.utils.register_keras_serializable(package="mobilekit")
class MeanIoU(_Confusion):
    """Intersection over union per class, averaged over the classes that occur in the masks or the
    predictions (`metrics.segmentation_scores`' rule)."""

    def __init__(self, num_classes: int, name: str = "miou", **kwargs):
        super().__init__(num_classes, name, **kwargs)

    def result(self):
        import tensorflow as tf

        hits = tf.linalg.diag_part(self.confusion)
        union = tf.reduce_sum(self.confusion, 0) + tf.reduce_sum(self.confusion, 1) - hits
        present = union > 0
        return tf.cast(tf.reduce_mean(tf.boolean_mask(hits / tf.where(present, union, 1.0), present)), tf.float32)


@tf_keras.utils.register_keras_serializable(package="mobilekit")
class PixelAccuracy(_Confusion):
    """The share of counted pixels whose predicted class is the true one."""

    def __init__(self, num_classes: int, name: str = "pixel_accuracy", **kwargs):
        super().__init__(num_classes, name, **kwargs)

    def result(self):
        import tensorflow as tf

        total = tf.reduce_sum(self.confusion)
        return tf.cast(tf.math.divide_no_nan(tf.linalg.trace(self.confusion), total), tf.float32)


def compile_for(task: str, model, optimizer, num_classes: int) -> None:
    """Compile `model` with the task's loss and metrics."""
    if task == "segmentation":
        model.compile(
            optimizer=optimizer,
            loss=PixelCrossEntropy(),
            metrics=[MeanIoU(num_classes), PixelAccuracy(num_classes)],
        )
        return
    metrics = ["accuracy"]
    if num_classes > 5:
        metrics.append(tf_keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"))
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=metrics)
