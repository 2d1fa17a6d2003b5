package dev.mobilekit.core

import kotlin.math.max
import kotlin.math.min
import kotlin.math.roundToInt
import kotlin.math.sqrt

/** A bitmap's width and height in pixels. */
data class PixelSize(val width: Int, val height: Int) {
    init {
        require(width >= 1 && height >= 1) { "a size needs width and height >= 1, got ${width}x$height" }
    }

    /** Bytes of an ARGB_8888 bitmap of this size. */
    val argbBytes: Long get() = width.toLong() * height * 4
}

/**
 * How large to decode a photo picked from the gallery: a phone camera's 50 MP photo decoded whole is
 * 200 MB of ARGB pixels, more than Android draws (a `Canvas` refuses bitmaps over
 * [MAX_DRAWN_BYTES]) and more than a small heap holds three times over.
 *
 * The decoded photo keeps its aspect ratio, its longer side no longer than the screen shows
 * ([displaySide]), its shorter side — what the model's centre crop takes — no shorter than the
 * model's input ([modelSide]) unless the photo is smaller than that already, and its bytes under
 * [MAX_DRAWN_BYTES] whatever the sides say. Photos are only ever scaled down.
 */
object PhotoSize {
    /** `RecordingCanvas.MAX_BITMAP_SIZE`: "Canvas: trying to draw too large bitmap" above this. */
    const val MAX_DRAWN_BYTES = 100L * 1024 * 1024

    /** The size to decode a [photo] to (see [PhotoSize]). */
    fun target(photo: PixelSize, displaySide: Int, modelSide: Int): PixelSize {
        require(displaySide >= 1 && modelSide >= 1) { "sides must be >= 1, got $displaySide and $modelSide" }
        val longer = max(photo.width, photo.height).toDouble()
        val shorter = min(photo.width, photo.height).toDouble()
        var scale = min(1.0, displaySide / longer)
        scale = max(scale, min(1.0, modelSide / shorter))
        scale = min(scale, sqrt(MAX_DRAWN_BYTES / photo.argbBytes.toDouble()))
        return PixelSize(
            max(1, (photo.width * scale).roundToInt()),
            max(1, (photo.height * scale).roundToInt()),
        )
    }

    /**
     * BitmapFactory's `inSampleSize` for decoding [photo] no smaller than [target]: the largest power
     * of two that keeps both sides at least the target's, counting a sampled side as `side / sample`
     * rounded down (Skia's rule; libjpeg rounds up, which only gives more). The decoder skips whole
     * pixel rows and columns; a final scale to [target] is exact.
     */
    fun sampleSize(photo: PixelSize, target: PixelSize): Int {
        var sample = 1
        while (photo.width / (sample * 2) >= target.width && photo.height / (sample * 2) >= target.height) {
            sample *= 2
        }
        return sample
    }
}
