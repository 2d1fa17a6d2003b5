package dev.mobilekit.core

import kotlin.math.floor
import kotlin.math.max
import kotlin.math.min

/** An RGB image: [pixels] holds height * width * 3 bytes (unsigned, row-major, RGB). */
class RgbImage(val width: Int, val height: Int, val pixels: ByteArray) {
    init {
        require(width > 0 && height > 0) { "image must be at least 1x1, got ${width}x$height" }
        require(pixels.size == width * height * 3) {
            "expected ${width * height * 3} bytes for a ${width}x$height RGB image, got ${pixels.size}"
        }
    }

    fun at(y: Int, x: Int, c: Int): Int = pixels[(y * width + x) * 3 + c].toInt() and 0xFF
}

/** The integer types a quantized input can have. */
enum class QuantType(val min: Int, val max: Int) { UINT8(0, 255), INT8(-128, 127) }

/**
 * The preprocessing mobilekit applies before a file's input, step for step:
 *
 * 1. [centerCrop]: the central square, resized with [resizeBilinear] (half-pixel centres, no
 *    antialiasing; computed in double precision like mobilekit.data.images, which computes in float64);
 * 2. [toPixels]: rounded half to even and clipped to 0..255, as mobilekit's datasets store images;
 * 3. [normalize]: (pixel - mean) / std per channel in float32, mean/std from the file's metadata;
 * 4. [quantize]: round(value / scale + zeroPoint) (half to even, float32 arithmetic) clipped to the
 *    type's range, as mobilekit.runtime.interpreter.quantize.
 */
object Preprocess {

    /** Bilinear resize with half-pixel centres and no antialiasing; height * width * 3 doubles. */
    fun resizeBilinear(image: RgbImage, outHeight: Int, outWidth: Int): DoubleArray =
        resizeRegion(image, 0, 0, image.height, image.width, outHeight, outWidth)

    /** The central square of [image] resized to [size] x [size] (values 0..255, not rounded). */
    fun centerCrop(image: RgbImage, size: Int): DoubleArray {
        val side = min(image.height, image.width)
        val top = (image.height - side) / 2
        val left = (image.width - side) / 2
        return resizeRegion(image, top, left, side, side, size, size)
    }

    /** Half-pixel source coordinates of [size] output samples over [srcSize] inputs, clamped to the edges. */
    internal fun sourceCoords(size: Int, srcSize: Int): DoubleArray {
        val ratio = srcSize.toDouble() / size.toDouble()
        return DoubleArray(size) { i ->
            val c = (i.toDouble() + 0.5) * ratio - 0.5
            min(max(c, 0.0), (srcSize - 1).toDouble())
        }
    }

    private fun resizeRegion(
        image: RgbImage, top: Int, left: Int, srcH: Int, srcW: Int, outHeight: Int, outWidth: Int,
    ): DoubleArray {
        require(outHeight > 0 && outWidth > 0) { "output size must be positive, got ${outWidth}x$outHeight" }
        val ys = sourceCoords(outHeight, srcH)
        val xs = sourceCoords(outWidth, srcW)
        val x0 = IntArray(outWidth) { floor(xs[it]).toInt() }
        val x1 = IntArray(outWidth) { min(x0[it] + 1, srcW - 1) }
        val wx = DoubleArray(outWidth) { xs[it] - x0[it] }
        val out = DoubleArray(outHeight * outWidth * 3)
        for (oy in 0 until outHeight) {
            val y0 = floor(ys[oy]).toInt()
            val y1 = min(y0 + 1, srcH - 1)
            val wy = ys[oy] - y0
            for (ox in 0 until outWidth) {
                for (c in 0 until 3) {
                    val a = image.at(top + y0, left + x0[ox], c).toDouble()
                    val b = image.at(top + y0, left + x1[ox], c).toDouble()
                    val d = image.at(top + y1, left + x0[ox], c).toDouble()
                    val e = image.at(top + y1, left + x1[ox], c).toDouble()
                    val upper = a * (1 - wx[ox]) + b * wx[ox]
                    val lower = d * (1 - wx[ox]) + e * wx[ox]
                    out[(oy * outWidth + ox) * 3 + c] = upper * (1 - wy) + lower * wy
                }
            }
        }
        return out
    }

    /** Resized values rounded half to even and clipped to 0..255 (mobilekit stores images as uint8). */
    fun toPixels(values: DoubleArray): IntArray =
        IntArray(values.size) { min(max(Math.rint(values[it]), 0.0), 255.0).toInt() }

    /**
     * (pixel - mean) / std per channel in float32; [mean] and [std] hold 1 value (all channels) or 3.
     */
    fun normalize(pixels: IntArray, mean: FloatArray, std: FloatArray, channels: Int = 3): FloatArray {
        require(mean.size == 1 || mean.size == channels) { "mean needs 1 or $channels values, got ${mean.size}" }
        require(std.size == 1 || std.size == channels) { "std needs 1 or $channels values, got ${std.size}" }
        return FloatArray(pixels.size) { i ->
            val c = i % channels
            (pixels[i].toFloat() - mean[if (mean.size == 1) 0 else c]) / std[if (std.size == 1) 0 else c]
        }
    }

    /** round(value / scale + zeroPoint), half to even, clipped to [type]'s range; two's-complement bytes. */
    fun quantize(values: FloatArray, scale: Float, zeroPoint: Int, type: QuantType): ByteArray {
        require(scale > 0f && scale.isFinite()) { "scale must be positive, got $scale" }
        val zp = zeroPoint.toFloat()
        return ByteArray(values.size) { i ->
            val q = Math.rint((values[i] / scale + zp).toDouble())
            min(max(q, type.min.toDouble()), type.max.toDouble()).toInt().toByte()
        }
    }

    /** The whole chain for a quantized input: crop, resize, round, normalize, quantize. */
    fun prepareQuantized(
        image: RgbImage, size: Int, mean: FloatArray, std: FloatArray, scale: Float, zeroPoint: Int, type: QuantType,
    ): ByteArray = quantize(prepareFloat(image, size, mean, std), scale, zeroPoint, type)

    /** The whole chain for a float32 input: crop, resize, round, normalize. */
    fun prepareFloat(image: RgbImage, size: Int, mean: FloatArray, std: FloatArray): FloatArray =
        normalize(toPixels(centerCrop(image, size)), mean, std)
}
