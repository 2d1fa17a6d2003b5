// Compile-only stand-ins for what the app's model classes (ImageModel.kt, Classifier.kt, Segmenter.kt)
// use outside the core: LiteRT's Java API (org.tensorflow.lite 1.x, the signatures of
// com.google.ai.edge.litert:litert) and the app's Engine, whose real source needs the Android SDK.
// tests/test_android_core.py compiles those classes against these and the core, so that their use of
// the core's API is type-checked here; nothing runs.
@file:Suppress("unused", "UNUSED_PARAMETER")

package org.tensorflow.lite

import java.nio.ByteBuffer

enum class DataType { FLOAT32, INT32, UINT8, INT64, STRING, BOOL, INT16, INT8 }

class Tensor {
    /** Java: `getScale()`, `getZeroPoint()`. */
    class QuantizationParams(val scale: Float, val zeroPoint: Int)

    fun dataType(): DataType = throw UnsupportedOperationException()
    fun numBytes(): Int = throw UnsupportedOperationException()
    fun numElements(): Int = throw UnsupportedOperationException()
    fun shape(): IntArray = throw UnsupportedOperationException()
    fun quantizationParams(): QuantizationParams = throw UnsupportedOperationException()
}

class Interpreter(model: ByteBuffer) : AutoCloseable {
    val inputTensorCount: Int get() = throw UnsupportedOperationException()
    val outputTensorCount: Int get() = throw UnsupportedOperationException()
    fun getInputTensor(index: Int): Tensor = throw UnsupportedOperationException()
    fun getOutputTensor(index: Int): Tensor = throw UnsupportedOperationException()
    fun run(input: Any, output: Any): Unit = throw UnsupportedOperationException()
    override fun close() = Unit
}
