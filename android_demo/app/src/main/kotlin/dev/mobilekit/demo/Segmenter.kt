package dev.mobilekit.demo

import dev.mobilekit.core.Activation
import dev.mobilekit.core.CategoryMask
import dev.mobilekit.core.LegendEntry
import dev.mobilekit.core.ModelInfo
import dev.mobilekit.core.RgbImage
import dev.mobilekit.core.ScoreMap
import dev.mobilekit.core.Segmentation
import dev.mobilekit.core.TensorType
import java.nio.ByteOrder
import kotlin.math.min
import org.tensorflow.lite.DataType

/**
 * One segmented image: the category [mask] at display size (it covers the image's central square, what
 * the model saw), its [overlay] (ARGB per mask pixel: class colours, background transparent), the
 * [legend] of the classes present, and how long the interpreter took.
 */
class Segmented(val mask: CategoryMask, val overlay: IntArray, val legend: List<LegendEntry>, val inferenceMs: Double)

/**
 * A semantic segmenter (a file whose [ModelInfo.task] is segmentation: one `[1, h, w, classes]` output
 * of per-pixel class scores): [ImageModel]'s preprocessing and inference, then the core's
 * [Segmentation] post-processing — the scores resized bilinearly to the display size, the best class
 * per pixel, the PASCAL VOC colours, the background transparent, a legend named from the metadata's
 * labels. Use it on the thread that created the engine.
 */
class Segmenter(engine: Engine, info: ModelInfo) : ImageModel(engine, info) {
    private val outputShape: List<Int> = outputTensor.shape().toList()
    private val outputBytes = ByteArray(outputTensor.numBytes())
    private val activation: Activation = info.metadata?.segmenter?.activation ?: Activation.NONE

    /** The class drawn transparent (see [Segmentation.backgroundClass]). */
    val background: Int? = Segmentation.backgroundClass(info.labels)

    /** Classes per pixel. */
    val classes: Int

    init {
        require(outputShape.size == 4 && outputShape[0] == 1) {
            "a segmentation output has the shape [1, height, width, classes]; this one is $outputShape"
        }
        classes = outputShape[3]
    }

    /**
     * Preprocess [image], run the model once and return its category mask at [maskSide] x [maskSide]
     * pixels (the side the image's central square is drawn at, capped by [MAX_MASK_SIDE]).
     */
    fun segment(image: RgbImage, maskSide: Int): Segmented {
        fillInput(image)
        val inferenceMs = runOnce()
        val scores = scoreMap()
        val side = min(maskSide, MAX_MASK_SIDE).coerceAtLeast(1)
        val mask = Segmentation.categoryMask(scores, side, side, activation)
        return Segmented(mask, Segmentation.overlay(mask, background), Segmentation.legend(mask, info.labels, background), inferenceMs)
    }

    /** The output tensor as the core reads it: its bytes, in the platform's order, with its quantization. */
    private fun scoreMap(): ScoreMap {
        output.rewind()
        output.get(outputBytes)
        output.rewind()
        val params = outputTensor.quantizationParams()
        val type = when (outputTensor.dataType()) {
            DataType.FLOAT32 -> TensorType.FLOAT32
            DataType.UINT8 -> TensorType.UINT8
            else -> TensorType.INT8 // ImageModel admits float32, uint8 and int8 only
        }
        return ScoreMap.of(outputBytes, outputShape, type, params.scale, params.zeroPoint, ByteOrder.nativeOrder())
    }

    companion object {
        /**
         * The largest mask side computed: bilinear resizing costs classes x side² per frame, so a
         * larger square is drawn from this one scaled up (past the model's 1/8 resolution, the mask
         * gains nothing visible from more).
         */
        const val MAX_MASK_SIDE = 512
    }
}
