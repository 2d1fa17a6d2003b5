package dev.mobilekit.demo

import dev.mobilekit.core.ModelInfo
import dev.mobilekit.core.RgbImage
import dev.mobilekit.core.Scored
import dev.mobilekit.core.TopK
import org.tensorflow.lite.DataType

/** The k best classes of one image and how long the interpreter took for it. */
data class Classification(val top: List<Scored>, val inferenceMs: Double)

/**
 * An image classifier: [ImageModel]'s preprocessing and inference, then top-k over the dequantized
 * scores, labelled from the metadata's label file. Use it on the thread that created the engine.
 */
class Classifier(engine: Engine, info: ModelInfo) : ImageModel(engine, info) {

    /** Preprocess [image], run the model once and return the [k] best classes. */
    fun classify(image: RgbImage, k: Int): Classification {
        fillInput(image)
        val inferenceMs = runOnce()
        return Classification(TopK.topK(scores(), k, info.labels), inferenceMs)
    }

    /** The output as float scores (dequantized for integer outputs). */
    fun scores(): FloatArray {
        output.rewind()
        val count = outputTensor.numElements()
        return when (outputTensor.dataType()) {
            DataType.FLOAT32 -> FloatArray(count).also { output.asFloatBuffer().get(it) }
            else -> {
                val params = outputTensor.quantizationParams()
                val unsigned = outputTensor.dataType() == DataType.UINT8
                val scale = if (params.scale > 0f) params.scale else 1f
                FloatArray(count) {
                    val raw = output.get(it).toInt()
                    val q = if (unsigned) raw and 0xFF else raw
                    (q - params.zeroPoint) * scale
                }
            }
        }
    }
}
