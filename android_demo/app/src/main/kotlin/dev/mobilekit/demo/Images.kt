package dev.mobilekit.demo

import android.content.ContentResolver
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.ImageDecoder
import android.graphics.Matrix
import android.net.Uri
import android.os.Build
import dev.mobilekit.core.RgbImage
import java.io.IOException

/** Bitmaps from the camera and the gallery, as the core's [RgbImage]. */
object Images {
    /** The bitmap's pixels as RGB bytes (alpha dropped). */
    fun toRgbImage(bitmap: Bitmap): RgbImage {
        val argbBitmap = if (bitmap.config == Bitmap.Config.ARGB_8888) {
            bitmap
        } else {
            bitmap.copy(Bitmap.Config.ARGB_8888, false)
                ?: throw IllegalArgumentException("cannot convert a ${bitmap.config} bitmap to ARGB_8888")
        }
        val width = argbBitmap.width
        val height = argbBitmap.height
        val argb = IntArray(width * height)
        argbBitmap.getPixels(argb, 0, width, 0, 0, width, height)
        val rgb = ByteArray(argb.size * 3)
        for (i in argb.indices) {
            val pixel = argb[i]
            rgb[i * 3] = (pixel shr 16 and 0xFF).toByte()
            rgb[i * 3 + 1] = (pixel shr 8 and 0xFF).toByte()
            rgb[i * 3 + 2] = (pixel and 0xFF).toByte()
        }
        return RgbImage(width, height, rgb)
    }

    /** [bitmap] turned upright by [degrees] clockwise (a camera frame's rotation). */
    fun rotate(bitmap: Bitmap, degrees: Int): Bitmap {
        if (degrees % 360 == 0) return bitmap
        val matrix = Matrix().apply { postRotate(degrees.toFloat()) }
        return Bitmap.createBitmap(bitmap, 0, 0, bitmap.width, bitmap.height, matrix, true)
    }

    /** Decode a picked image into a software bitmap whose pixels can be read. */
    fun decode(resolver: ContentResolver, uri: Uri): Bitmap {
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) {
            val source = ImageDecoder.createSource(resolver, uri)
            return ImageDecoder.decodeBitmap(source) { decoder, _, _ ->
                decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
            }
        }
        val stream = resolver.openInputStream(uri) ?: throw IOException("cannot open $uri")
        return stream.use { BitmapFactory.decodeStream(it) } ?: throw IOException("$uri is not an image Android can decode")
    }
}
