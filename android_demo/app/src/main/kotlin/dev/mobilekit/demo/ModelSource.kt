package dev.mobilekit.demo

import android.content.Context
import android.net.Uri
import android.provider.OpenableColumns
import java.io.File
import java.io.IOException

/** A .tflite the app can open: the bundled asset, or a file in the app's models folder. */
sealed class ModelSource(val name: String) {
    abstract fun readBytes(context: Context): ByteArray

    class Asset(private val path: String) : ModelSource(path.substringAfterLast('/')) {
        override fun readBytes(context: Context): ByteArray = context.assets.open(path).use { it.readBytes() }
    }

    class LocalFile(private val file: File) : ModelSource(file.name) {
        override fun readBytes(context: Context): ByteArray = file.readBytes()
    }

    override fun toString(): String = name

    companion object {
        /** The model built into the APK by scripts/build_demo_model.sh (absent if it was not run). */
        const val BUNDLED_ASSET = "model.tflite"

        private const val MODELS_FOLDER = "models"

        /** The app folder on shared storage that adb can reach (`/sdcard/Android/data/<app>/files`). */
        fun appFolder(context: Context): File = context.getExternalFilesDir(null) ?: context.filesDir

        /** Where `adb push` and the file picker put models: `<app folder>/models`. */
        fun modelsFolder(context: Context): File = File(appFolder(context), MODELS_FOLDER)

        /** The bundled model (if any) and every .tflite in the models folder, by name. */
        fun available(context: Context): List<ModelSource> {
            val bundled = if (BUNDLED_ASSET in context.assets.list("").orEmpty()) listOf(Asset(BUNDLED_ASSET)) else emptyList()
            val pushed = modelsFolder(context).listFiles { file -> file.isFile && file.name.endsWith(".tflite") }
                .orEmpty().sortedBy { it.name }.map { LocalFile(it) }
            return bundled + pushed
        }

        /**
         * Copy a picked document into the models folder (so it is listed next time) and return it;
         * a failed copy leaves nothing behind.
         */
        fun importPicked(context: Context, uri: Uri): LocalFile {
            val name = displayName(context, uri)?.takeIf { it.endsWith(".tflite") }?.replace('/', '_')
                ?: throw IOException("pick a .tflite file")
            val target = File(modelsFolder(context), name)
            val input = context.contentResolver.openInputStream(uri) ?: throw IOException("cannot open $uri")
            input.use { source -> writeAtomically(target) { source.copyTo(it) } }
            return LocalFile(target)
        }

        private fun displayName(context: Context, uri: Uri): String? =
            context.contentResolver.query(uri, arrayOf(OpenableColumns.DISPLAY_NAME), null, null, null)?.use { cursor ->
                if (cursor.moveToFirst()) cursor.getString(0) else null
            }
    }
}
