package dev.mobilekit.demo

import dev.mobilekit.core.Accelerator
import dev.mobilekit.core.ModelInfo
import dev.mobilekit.core.Preprocess
import dev.mobilekit.core.QuantType
import dev.mobilekit.core.RgbImage
import dev.mobilekit.core.Task
import java.io.Closeable
import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Tensor

/**
 * A model with one RGB image input over an [Engine]: preprocessing exactly as mobilekit's (centre crop,
 * bilinear resize, normalization from the file's TFLite Metadata, quantization with the input tensor's
 * scale and zero point) and one inference; what the output means is the subclass's: [Classifier]
 * (top-k scores) or [Segmenter] (a category mask).
 *
 * Handles float32, uint8 and int8 inputs and outputs. Use it on the thread that created the engine.
 */
sealed class ImageModel(private val engine: Engine, val info: ModelInfo) : Closeable {
    private val inputTensor: Tensor = engine.interpreter.getInputTensor(0)
    protected val outputTensor: Tensor = engine.interpreter.getOutputTensor(0)
    private val input: ByteBuffer = ByteBuffer.allocateDirect(inputTensor.numBytes()).order(ByteOrder.nativeOrder())
    protected val output: ByteBuffer = ByteBuffer.allocateDirect(outputTensor.numBytes()).order(ByteOrder.nativeOrder())

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
        require(inputType in TYPES) { "the input is ${inputType.name}; the demo handles ${TYPES.joinToString()}" }
        require(outputTensor.dataType() in TYPES) { "the output is ${outputTensor.dataType().name}, not scores" }
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

    override fun close() = engine.close()

    companion object {
        val TYPES = listOf(DataType.FLOAT32, DataType.UINT8, DataType.INT8)

        /**
         * The model for [modelBytes] on [accelerator], by the file's task ([ModelInfo.task]): a
         * [Segmenter] for a segmentation file, a [Classifier] for anything else (a file of unknown task
         * shows its output as scores, as the demo always did); [info] is the file's metadata (read by
         * the core), [gpuCache] where the GPU delegate keeps its compiled kernels (see [GpuCache]).
         */
        fun open(
            modelBytes: ByteArray, accelerator: Accelerator, threads: Int, info: ModelInfo = ModelInfo.read(modelBytes),
            gpuCache: GpuCache? = null,
        ): ImageModel {
            val engine = Engine.create(modelBytes, accelerator, threads, gpuCache)
            try {
                return if (info.task == Task.SEGMENTATION) Segmenter(engine, info) else Classifier(engine, info)
            } catch (e: IllegalArgumentException) {
                engine.close()
                throw e
            }
        }
    }
}
