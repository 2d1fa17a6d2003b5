package dev.mobilekit.core

/**
 * How to turn a stored photo upright: rotate it clockwise by [degrees] (0, 90, 180 or 270), then
 * mirror it left to right when [mirrored]. The app applies the same two steps to a bitmap with a
 * `Matrix` (`postRotate`, then `postScale(-1, 1)`); [apply] is the reference on an [RgbImage].
 */
data class Orientation(val degrees: Int, val mirrored: Boolean) {
    init {
        require(degrees in listOf(0, 90, 180, 270)) { "degrees must be 0, 90, 180 or 270, got $degrees" }
    }

    /** The upright size of a stored photo of [width] x [height]. */
    fun size(width: Int, height: Int): PixelSize =
        if (degrees % 180 == 0) PixelSize(width, height) else PixelSize(height, width)

    /** The upright image. */
    fun apply(image: RgbImage): RgbImage {
        val out = size(image.width, image.height)
        val rgb = ByteArray(image.pixels.size)
        for (y in 0 until image.height) {
            for (x in 0 until image.width) {
                var (u, v) = when (degrees) {
                    90 -> image.height - 1 - y to x
                    180 -> image.width - 1 - x to image.height - 1 - y
                    270 -> y to image.width - 1 - x
                    else -> x to y
                }
                if (mirrored) u = out.width - 1 - u
                image.pixels.copyInto(rgb, (v * out.width + u) * 3, (y * image.width + x) * 3, (y * image.width + x) * 3 + 3)
            }
        }
        return RgbImage(out.width, out.height, rgb)
    }

    companion object {
        val UPRIGHT = Orientation(0, false)

        /**
         * From the EXIF / TIFF Orientation tag (1..8, where the stored 0th row and column sit in the
         * upright picture); a missing or unknown value is upright. BitmapFactory ignores the tag
         * (ImageDecoder, Android 9+, applies it), so the app applies it on Android 7 and 8.
         */
        fun fromExif(code: Int): Orientation = when (code) {
            2 -> Orientation(0, true)
            3 -> Orientation(180, false)
            4 -> Orientation(180, true)
            5 -> Orientation(90, true)
            6 -> Orientation(90, false)
            7 -> Orientation(270, true)
            8 -> Orientation(270, false)
            else -> UPRIGHT
        }
    }
}
