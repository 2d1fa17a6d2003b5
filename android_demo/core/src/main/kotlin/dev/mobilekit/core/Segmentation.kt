package dev.mobilekit.core

import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.math.floor
import kotlin.math.min

/** What a [ModelInfo] file does: its [id] is the name mobilekit's Python reader gives the task too. */
enum class Task(val id: String) { CLASSIFICATION("classification"), SEGMENTATION("segmentation"), UNKNOWN("unknown") }

/** MediaPipe's `Activation` (image_segmenter_metadata_schema.fbs): what to apply to a segmenter's output. */
enum class Activation(val code: Int) { NONE(0), SIGMOID(1), SOFTMAX(2) }

/**
 * The `SEGMENTER_METADATA` custom metadata of a segmentation model: MediaPipe's
 * `ImageSegmenterOptions` flatbuffer (`activation: Activation; min_parser_version: string`,
 * file identifier V001, which MediaPipe does not check and neither does this reader).
 */
data class SegmenterOptions(val activation: Activation, val minParserVersion: String?) {
    companion object {
        /** Reads the flatbuffer; a corrupt one, or an activation MediaPipe does not know, is an IllegalArgumentException. */
        fun parse(data: ByteArray): SegmenterOptions {
            val fb = FlatBuffer(data, "the model's ${ModelInfo.SEGMENTER_METADATA} flatbuffer")
            val root = fb.root()
            val code = root.u8(0 /* activation */).toByte().toInt() // `Activation: byte`
            val activation = Activation.entries.firstOrNull { it.code == code } ?: throw IllegalArgumentException(
                "the model's ${ModelInfo.SEGMENTER_METADATA} has activation $code; MediaPipe's ImageSegmenterOptions " +
                    "knows ${Activation.entries.joinToString { "${it.name} (${it.code})" }}",
            )
            return SegmenterOptions(activation, root.string(1 /* min_parser_version */))
        }
    }
}

/**
 * A segmentation model's output, [height] x [width] pixels of [classes] scores each (the tensor
 * `[1, height, width, classes]`), read from the tensor's raw bytes without copying them into floats.
 * An integer tensor's values are dequantized as the app's classifier does it: `(q - zeroPoint) * scale`
 * in float32 (scale 1, zero point 0 when the tensor has no quantization); [score] widens that to double.
 */
class ScoreMap private constructor(
    val height: Int,
    val width: Int,
    val classes: Int,
    private val floats: FloatArray?,
    private val quantized: ByteArray?,
    private val table: DoubleArray?,
) {
    /** The score of class [c] at pixel ([y], [x]). */
    fun score(y: Int, x: Int, c: Int): Double = at((y * width + x) * classes + c)

    internal fun at(index: Int): Double =
        if (floats != null) floats[index].toDouble() else table!![quantized!![index].toInt() and 0xFF]

    companion object {
        /**
         * The output tensor of [shape] (`[1, height, width, classes]`, or `[height, width, classes]`)
         * and [type] (float32, uint8 or int8) from its raw bytes [data] in [order] (the interpreter's
         * buffers are in the platform's order: little-endian on Android); [scale] and [zeroPoint] are its
         * per-tensor quantization, null or a scale of 0 for none.
         */
        fun of(
            data: ByteArray, shape: List<Int>, type: TensorType, scale: Float?, zeroPoint: Int?,
            order: ByteOrder = ByteOrder.LITTLE_ENDIAN,
        ): ScoreMap {
            val dims = when {
                shape.size == 4 && shape[0] == 1 -> shape.drop(1)
                shape.size == 3 -> shape
                else -> throw IllegalArgumentException(
                    "a segmentation output has the shape [1, height, width, classes]; this one is $shape",
                )
            }
            val (height, width, classes) = dims
            require(height > 0 && width > 0 && classes > 0) { "the output $shape has an empty dimension" }
            val count = height.toLong() * width * classes
            val size = when (type) {
                TensorType.FLOAT32 -> 4
                TensorType.UINT8, TensorType.INT8 -> 1
                else -> throw IllegalArgumentException(
                    "the segmentation output is ${type.name.lowercase()}; the demo reads float32, uint8 and int8",
                )
            }
            require(data.size.toLong() == count * size) {
                "the output $shape of ${type.name.lowercase()} is ${count * size} bytes, got ${data.size}"
            }
            if (type == TensorType.FLOAT32) {
                val floats = FloatArray(count.toInt())
                ByteBuffer.wrap(data).order(order).asFloatBuffer().get(floats)
                return ScoreMap(height, width, classes, floats, null, null)
            }
            val quantized = scale != null && scale > 0f && scale.isFinite()
            val s = if (quantized) scale!! else 1f
            val zp = if (quantized) zeroPoint ?: 0 else 0
            val table = DoubleArray(256) { byte ->
                val q = if (type == TensorType.UINT8) byte else byte.toByte().toInt()
                ((q - zp).toFloat() * s).toDouble()
            }
            return ScoreMap(height, width, classes, null, data, table)
        }

        /** Float scores, [height] * [width] * [classes] values in the tensor's order (pixel-major, classes last). */
        fun ofFloats(values: FloatArray, height: Int, width: Int, classes: Int): ScoreMap {
            require(height > 0 && width > 0 && classes > 0) { "empty score map ${height}x${width}x$classes" }
            require(values.size.toLong() == height.toLong() * width * classes) {
                "expected ${height * width * classes} scores for ${height}x${width}x$classes, got ${values.size}"
            }
            return ScoreMap(height, width, classes, values, null, null)
        }
    }
}

/**
 * A category mask: the class of every pixel of a [width] x [height] image, row-major in [classes]
 * ([NO_CLASS] where a one-channel mask is below its threshold).
 */
class CategoryMask(val width: Int, val height: Int, val classes: IntArray) {
    init {
        require(classes.size == width * height) { "a ${width}x$height mask needs ${width * height} classes, got ${classes.size}" }
    }

    fun at(y: Int, x: Int): Int = classes[y * width + x]

    /** Pixels per class, for classes 0 until [classCount] ([NO_CLASS] pixels are not counted). */
    fun counts(classCount: Int): IntArray {
        val counts = IntArray(classCount)
        for (c in classes) if (c in 0 until classCount) counts[c]++
        return counts
    }

    companion object {
        /** A pixel of no class: a one-channel (foreground) mask below its threshold, as MediaPipe's 255. */
        const val NO_CLASS = -1
    }
}

/**
 * One line of a mask's legend: class [index], its [label] from the metadata (null without one),
 * its opaque [color] (ARGB), the [share] of the mask's pixels it covers (0..1) and whether it is the
 * [background], drawn transparent.
 */
data class LegendEntry(val index: Int, val label: String?, val color: Int, val share: Double, val background: Boolean) {
    /** The label, or `#index` when the file has none. */
    val name: String get() = label?.takeIf { it.isNotEmpty() } ?: "#$index"
}

/**
 * The post-processing of a segmentation model's output, from its scores to what the app draws.
 *
 * **Category mask**: the class with the highest score at every pixel; ties go to the lowest class
 * index (as `numpy.argmax`), NaN scores never win (a pixel whose scores are all NaN is class 0). The
 * activation in the metadata does not change which class is highest, so it is not applied; a
 * one-channel output is a foreground probability as MediaPipe reads it: class 0 where it is above
 * 0.5 (above 0 for SIGMOID, whose sigmoid is then above 0.5), [CategoryMask.NO_CLASS] elsewhere.
 *
 * **Resizing to the display**: bilinear on the scores, then the arg-max per displayed pixel, as
 * MediaPipe's ImageSegmenter makes its category mask (so class borders are smooth, not the model's
 * 8-pixel blocks). The sampling is the one the core's preprocessing uses and the graph's own
 * in-graph resize (Keras `Resizing`, `tf.image.resize`) does: half-pixel centres, source
 * coordinate `(i + 0.5) * in / out - 0.5` clamped to the edges, no antialiasing, in double precision
 * in the order `upper = a*(1-wx) + b*wx`, `lower = d*(1-wx) + e*wx`, `upper*(1-wy) + lower*wy`.
 * (MediaPipe's CPU path maps corners to corners instead; the difference is under one tensor pixel.)
 */
object Segmentation {
    /** The category mask at the tensor's own resolution (no resizing). */
    fun categoryMask(scores: ScoreMap, activation: Activation = Activation.NONE): CategoryMask {
        val classes = scores.classes
        val out = IntArray(scores.height * scores.width) { pixel ->
            val base = pixel * classes
            if (classes == 1) {
                foreground(scores.at(base), activation)
            } else {
                var best = 0
                var bestScore = Double.NEGATIVE_INFINITY
                for (c in 0 until classes) {
                    val s = scores.at(base + c)
                    if (s > bestScore) { best = c; bestScore = s }
                }
                best
            }
        }
        return CategoryMask(scores.width, scores.height, out)
    }

    /**
     * The category mask at [width] x [height] for display: the scores resized bilinearly (see the
     * class documentation), then the best class per pixel. The size of the tensor gives exactly
     * [categoryMask] of the scores.
     */
    fun categoryMask(scores: ScoreMap, width: Int, height: Int, activation: Activation = Activation.NONE): CategoryMask {
        require(width > 0 && height > 0) { "the mask size must be positive, got ${width}x$height" }
        val classes = scores.classes
        val xs = Preprocess.sourceCoords(width, scores.width)
        val ys = Preprocess.sourceCoords(height, scores.height)
        val x0 = IntArray(width) { floor(xs[it]).toInt() }
        val x1 = IntArray(width) { min(x0[it] + 1, scores.width - 1) }
        val wx = DoubleArray(width) { xs[it] - x0[it] }
        val out = IntArray(width * height)
        for (oy in 0 until height) {
            val y0 = floor(ys[oy]).toInt()
            val y1 = min(y0 + 1, scores.height - 1)
            val wy = ys[oy] - y0
            for (ox in 0 until width) {
                val a = (y0 * scores.width + x0[ox]) * classes
                val b = (y0 * scores.width + x1[ox]) * classes
                val d = (y1 * scores.width + x0[ox]) * classes
                val e = (y1 * scores.width + x1[ox]) * classes
                var best = 0
                var bestScore = Double.NEGATIVE_INFINITY
                for (c in 0 until classes) {
                    val upper = scores.at(a + c) * (1 - wx[ox]) + scores.at(b + c) * wx[ox]
                    val lower = scores.at(d + c) * (1 - wx[ox]) + scores.at(e + c) * wx[ox]
                    val s = upper * (1 - wy) + lower * wy
                    if (classes == 1) { best = foreground(s, activation); break }
                    if (s > bestScore) { best = c; bestScore = s }
                }
                out[oy * width + ox] = best
            }
        }
        return CategoryMask(width, height, out)
    }

    private fun foreground(score: Double, activation: Activation): Int =
        if (score > (if (activation == Activation.SIGMOID) 0.0 else 0.5)) 0 else CategoryMask.NO_CLASS

    /**
     * The class drawn transparent: with [labels], the first one named `background` (any case, with or
     * without surrounding underscores, e.g. `__background__`), or none when no label is; without
     * labels, class 0, the usual background.
     */
    fun backgroundClass(labels: List<String>?): Int? {
        if (labels == null) return 0
        return labels.indexOfFirst { it.trim().trim('_').equals("background", ignoreCase = true) }.takeIf { it >= 0 }
    }

    /**
     * The opaque colour (ARGB) of class [index]: the PASCAL VOC colour map (class 1 dark red
     * 128,0,0, class 2 green 0,128,0, class 3 olive 128,128,0, ...; class 0 black), the colours
     * segmentation demos and datasets use.
     */
    fun color(index: Int): Int {
        require(index >= 0) { "class index must be >= 0, got $index" }
        var r = 0
        var g = 0
        var b = 0
        var c = index
        for (bit in 7 downTo 0) {
            r = r or ((c and 1) shl bit)
            g = g or ((c shr 1 and 1) shl bit)
            b = b or ((c shr 2 and 1) shl bit)
            c = c shr 3
        }
        return (0xFF shl 24) or (r shl 16) or (g shl 8) or b
    }

    /**
     * The mask as ARGB pixels to draw over the image: each class's [color] at [alpha] (0..255), the
     * [background] class and [CategoryMask.NO_CLASS] pixels fully transparent.
     */
    fun overlay(mask: CategoryMask, background: Int?, alpha: Int = DEFAULT_ALPHA): IntArray {
        require(alpha in 0..255) { "alpha must be 0..255, got $alpha" }
        val palette = HashMap<Int, Int>()
        return IntArray(mask.classes.size) { i ->
            val c = mask.classes[i]
            if (c == CategoryMask.NO_CLASS || c == background) {
                0
            } else {
                palette.getOrPut(c) { (color(c) and 0xFFFFFF) or (alpha shl 24) }
            }
        }
    }

    /**
     * The classes present in [mask] with their share of its pixels, largest share first (ties in
     * class order); [labels] name them, [background] marks the transparent one.
     */
    fun legend(mask: CategoryMask, labels: List<String>?, background: Int?): List<LegendEntry> {
        val classCount = (mask.classes.maxOrNull() ?: -1) + 1
        val counts = mask.counts(classCount)
        val total = mask.classes.size.toDouble()
        return counts.indices.filter { counts[it] > 0 }
            .sortedWith(compareByDescending<Int> { counts[it] }.thenBy { it })
            .map { LegendEntry(it, labels?.getOrNull(it), color(it), counts[it] / total, it == background) }
    }

    /** The overlay's default opacity: 60 %, the image stays visible under the classes. */
    const val DEFAULT_ALPHA = 0x99
}
