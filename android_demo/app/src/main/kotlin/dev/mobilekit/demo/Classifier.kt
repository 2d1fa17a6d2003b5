package dev.mobilekit.demo

import dev.mobilekit.core.Accelerator
import dev.mobilekit.core.ModelInfo
import dev.mobilekit.core.Preprocess
import dev.mobilekit.core.QuantType
import dev.mobilekit.core.RgbImage
import dev.mobilekit.core.Scored
import dev.mobilekit.core.TopK
import java.io.Closeable
import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Tensor

/** The k best classes of one image and how long the interpreter took for it. */
data class Classification(val top: List<Scored>, val inferenceMs: Double)

/**
 * An image classifier over an [Engine]: preprocessing exactly as mobilekit's (centre crop, bilinear
 * resize, normalization from the file's TFLite Metadata, quantization with the input tensor's scale
 * and zero point), then top-k over the dequantized scores, labelled from the metadata's label file.
 *
 * Handles float32, uint8 and int8 inputs and outputs. Use it on the thread that created the engine.
 */
class Classifier(private val engine: Engine, val info: ModelInfo) : Closeable {
    private val inputTensor: Tensor = engine.interpreter.getInputTensor(0)
    private val outputTensor: Tensor = engine.interpreter.getOutputTensor(0)
    private val input: ByteBuffer = ByteBuffer.allocateDirect(inputTensor.numBytes()).order(ByteOrder.nativeOrder())
    private val output: ByteBuffer = ByteBuffer.allocateDirect(outputTensor.numBytes()).order(ByteOrder.nativeOrder())

    /** Side of the square input image in pixels. */
    val inputSize: Int

    /** Per-channel mean and std from the metadata; raw 0..255 pixels when the file has none. */
    val mean: FloatArray = info.mean?.toFloatArray() ?: floatArrayOf(0f)
    val std: FloatArray = info.std?.toFloatArray() ?: floatArrayOf(1f)
    val hasNormalization: Boolean get() = info.mean != null

    val inputType: DataType get() = inputTensor.dataType()
    val accelerator: Accelerator get() = engine.accelerator

    init {
        val shape = inputTensor.shape()
        require(shape.size == 4 && shape[0] == 1 && shape[3] == 3) {
            "expected one RGB image input of shape [1, height, width, 3], got ${shape.contentToString()}"
        }
        require(shape[1] == shape[2]) { "expected a square input, got ${shape[2]}x${shape[1]}" }
        inputSize = shape[1]
        require(inputType in INPUT_TYPES) { "the input is ${inputType.name}; the demo handles ${INPUT_TYPES.joinToString()}" }
        require(outputTensor.dataType() in INPUT_TYPES) { "the output is ${outputTensor.dataType().name}, not scores" }
    }

    /** Preprocess [image], run the model once and return the [k] best classes. */
    fun classify(image: RgbImage, k: Int): Classification {
        fillInput(image)
        val inferenceMs = runOnce()
        return Classification(TopK.topK(scores(), k, info.labels), inferenceMs)
    }

    /** Write [image], preprocessed for this model, into the input buffer. */
    fun fillInput(image: RgbImage) {
        input.rewind()
        when (inputType) {
            DataType.FLOAT32 -> {
                val values = Preprocess.prepareFloat(image, inputSize, mean, std)
                input.asFloatBuffer().put(values)
            }
            else -> {
                val params = inputTensor.quantizationParams()
                val type = if (inputType == DataType.UINT8) QuantType.UINT8 else QuantType.INT8
                // An integer input without quantization parameters (scale 0) takes the values as they are.
                val scale = if (params.scale > 0f) params.scale else 1f
                val zeroPoint = if (params.scale > 0f) params.zeroPoint else 0
                input.put(Preprocess.prepareQuantized(image, inputSize, mean, std, scale, zeroPoint, type))
            }
        }
        input.rewind()
    }

    /** One inference on the current input; milliseconds of wall time around the call. */
    fun runOnce(): Double {
        input.rewind()
        output.rewind()
        val start = System.nanoTime()
        engine.interpreter.run(input, output)
        return (System.nanoTime() - start) / 1e6
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

    override fun close() = engine.close()

    companion object {
        val INPUT_TYPES = listOf(DataType.FLOAT32, DataType.UINT8, DataType.INT8)

        /**
         * A classifier for [modelBytes] on [accelerator]; [info] is the file's metadata (read by the core),
         * [gpuCache] where the GPU delegate keeps its compiled kernels (see [GpuCache]).
         */
        fun open(
            modelBytes: ByteArray, accelerator: Accelerator, threads: Int, info: ModelInfo = ModelInfo.read(modelBytes),
            gpuCache: GpuCache? = null,
        ): Classifier {
            val engine = Engine.create(modelBytes, accelerator, threads, gpuCache)
            try {
                return Classifier(engine, info)
            } catch (e: IllegalArgumentException) {
                engine.close()
                throw e
            }
        }
    }
}
