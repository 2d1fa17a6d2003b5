package dev.mobilekit.demo

import android.content.ContentResolver
import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.Canvas
import android.graphics.ImageDecoder
import android.graphics.Matrix
import android.graphics.Paint
import android.graphics.Rect
import android.net.Uri
import android.os.Build
import androidx.exifinterface.media.ExifInterface
import dev.mobilekit.core.Orientation
import dev.mobilekit.core.PhotoSize
import dev.mobilekit.core.PixelSize
import dev.mobilekit.core.RgbImage
import java.io.IOException
import java.io.InputStream
import kotlin.math.min

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

    /**
     * A copy of [image] with [segmented]'s mask drawn over its central square, the part the model saw
     * (the core's centre crop: the same square, by the same integer arithmetic). The mask is scaled
     * to the square without filtering, so class borders stay sharp.
     */
    fun withMask(image: Bitmap, segmented: Segmented): Bitmap {
        val out = image.copy(Bitmap.Config.ARGB_8888, true)
            ?: throw IllegalArgumentException("cannot copy a ${image.config} bitmap to draw the mask on")
        val side = min(out.width, out.height)
        val left = (out.width - side) / 2
        val top = (out.height - side) / 2
        val mask = Bitmap.createBitmap(segmented.overlay, segmented.mask.width, segmented.mask.height, Bitmap.Config.ARGB_8888)
        Canvas(out).drawBitmap(mask, null, Rect(left, top, left + side, top + side), Paint())
        mask.recycle()
        return out
    }

    /** The side of [image]'s central square: what the model sees, and the size its mask is drawn at. */
    fun squareSide(image: Bitmap): Int = min(image.width, image.height)

    /** [bitmap] turned upright as [orientation] says: rotated clockwise, then mirrored (the core's order). */
    fun orient(bitmap: Bitmap, orientation: Orientation): Bitmap {
        if (orientation == Orientation.UPRIGHT) return bitmap
        val matrix = Matrix().apply {
            postRotate(orientation.degrees.toFloat())
            if (orientation.mirrored) postScale(-1f, 1f)
        }
        return Bitmap.createBitmap(bitmap, 0, 0, bitmap.width, bitmap.height, matrix, true)
    }

    /**
     * Decode a picked photo, upright, into a software bitmap whose pixels can be read, no larger than
     * [PhotoSize.target] for a screen of [displaySide] pixels and a model input of [modelSide]: a
     * camera's full-size photo would not draw and would crowd the heap.
     */
    fun decode(resolver: ContentResolver, uri: Uri, displaySide: Int, modelSide: Int): Bitmap {
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) {
            // ImageDecoder applies the EXIF orientation itself.
            val source = ImageDecoder.createSource(resolver, uri)
            return ImageDecoder.decodeBitmap(source) { decoder, info, _ ->
                decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
                val target = PhotoSize.target(PixelSize(info.size.width, info.size.height), displaySide, modelSide)
                decoder.setTargetSize(target.width, target.height)
            }
        }
        // Android 7 and 8: BitmapFactory, which neither scales to a size nor reads EXIF.
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        open(resolver, uri).use { BitmapFactory.decodeStream(it, null, bounds) }
        if (bounds.outWidth <= 0 || bounds.outHeight <= 0) throw IOException("$uri is not an image Android can decode")
        val photo = PixelSize(bounds.outWidth, bounds.outHeight)
        val target = PhotoSize.target(photo, displaySide, modelSide)
        val sampling = BitmapFactory.Options().apply { inSampleSize = PhotoSize.sampleSize(photo, target) }
        val sampled = open(resolver, uri).use { BitmapFactory.decodeStream(it, null, sampling) }
            ?: throw IOException("$uri is not an image Android can decode")
        val scaled = if (sampled.width == target.width && sampled.height == target.height) {
            sampled
        } else {
            Bitmap.createScaledBitmap(sampled, target.width, target.height, true).also { sampled.recycle() }
        }
        val exif = open(resolver, uri).use {
            ExifInterface(it).getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL)
        }
        return orient(scaled, Orientation.fromExif(exif))
    }

    private fun open(resolver: ContentResolver, uri: Uri): InputStream =
        resolver.openInputStream(uri) ?: throw IOException("cannot open $uri")
}
