// The app's Engine (android_demo/app/.../Engine.kt) as the model classes see it: its real source needs
// the Android SDK and the GPU / NNAPI delegates. Compile-only, see LiteRtStubs.kt.
@file:Suppress("unused", "UNUSED_PARAMETER")

package dev.mobilekit.demo

import dev.mobilekit.core.Accelerator
import java.io.Closeable
import java.io.File
import org.tensorflow.lite.Interpreter

data class GpuCache(val folder: File, val token: String)

class Engine private constructor(val interpreter: Interpreter, val accelerator: Accelerator) : Closeable {
    override fun close() = Unit

    companion object {
        fun create(modelBytes: ByteArray, accelerator: Accelerator, threads: Int, gpuCache: GpuCache? = null): Engine =
            throw UnsupportedOperationException()
    }
}
