package dev.mobilekit.demo

import dev.mobilekit.core.Accelerator
import dev.mobilekit.core.BenchResult
import dev.mobilekit.core.BenchmarkRequest
import dev.mobilekit.core.Device
import dev.mobilekit.core.LatencyStats
import dev.mobilekit.core.ModelInfo
import dev.mobilekit.core.ResultsJson
import dev.mobilekit.core.Settings
import java.io.Closeable
import java.io.File
import java.io.IOException
import java.io.OutputStream
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.text.SimpleDateFormat
import java.util.Date
import java.util.Locale
import java.util.Random
import java.util.TimeZone
import org.tensorflow.lite.DataType

/**
 * Runs a [BenchmarkRequest] the way `mobilekit bench` measures on the host, and writes its results JSON.
 * Any .tflite runs, not only a classifier: a latency table's one-op files have inputs of any shape and
 * number (`scripts/android_bench.sh --table`).
 */
object Benchmark {
    /** Fixed so every run feeds the same input bytes. */
    private const val INPUT_SEED = 0L

    /**
     * Run [request] and return the mobilekit.bench/1 document. A delegate that fails, or NNAPI that
     * takes no part of the model (the figure would be the CPU's), is a result with `error` (and no
     * latency), not an exception; an unreadable model file throws [java.io.IOException].
     */
    fun run(request: BenchmarkRequest, device: Device, progress: (String) -> Unit = {}): String {
        val bytes = request.model.readBytes()
        val settings = Settings(warmup = request.warmup, runs = request.runs)
        val result = measure(bytes, request, progress)
        return ResultsJson.write(device, listOf(result), settings, created = nowIso())
    }

    private fun measure(bytes: ByteArray, request: BenchmarkRequest, progress: (String) -> Unit): BenchResult {
        fun result(initMs: Double? = null, firstMs: Double? = null, latency: LatencyStats? = null, error: String? = null) =
            BenchResult.forFile(
                bytes, model = request.model.nameWithoutExtension, delegate = request.accelerator.id,
                threads = request.threads, file = request.model.name, initMs = initMs, firstInferenceMs = firstMs,
                latency = latency, error = error,
            )
        val info = try {
            ModelInfo.read(bytes)
        } catch (e: IllegalArgumentException) {
            return result(error = e.message ?: e.toString())
        }
        if (request.accelerator == Accelerator.NNAPI) {
            progress("checking that NNAPI takes part of ${request.model.name}")
            try {
                Engine.requireNnapiTakesOps(bytes, info.operators)
            } catch (e: AcceleratorException) {
                return result(error = e.message ?: e.toString())
            }
        }
        // Any task: the runner fills every input and gives every output its buffer, whatever its shape.
        progress("loading ${request.model.name} (${info.task.id}) on ${request.accelerator.id}")
        val start = System.nanoTime()
        val engine = try {
            Engine.create(bytes, request.accelerator, request.threads)
        } catch (e: AcceleratorException) {
            return result(error = e.message ?: e.toString())
        } catch (e: IllegalArgumentException) {
            return result(error = e.message ?: e.toString())
        }
        val runner = try {
            RandomRunner(engine, Random(INPUT_SEED))
        } catch (e: RuntimeException) {
            engine.close()
            return result(error = "could not allocate the inputs and outputs: ${e.message}")
        }
        runner.use {
            try {
                it.fill()
                val initMs = (System.nanoTime() - start) / 1e6
                val firstMs = it.runOnce()
                progress("warming up: ${request.warmup} runs")
                repeat(request.warmup) { _ -> it.runOnce() }
                progress("timing: ${request.runs} runs")
                val times = DoubleArray(request.runs) { _ -> it.runOnce() }
                return result(initMs, firstMs, LatencyStats.of(times))
            } catch (e: RuntimeException) {
                // A delegate can accept a model and still fail when it runs (driver errors).
                return result(error = "inference failed on ${request.accelerator.id}: ${e.message}")
            }
        }
    }

    private fun nowIso(): String {
        val format = SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'Z'", Locale.US)
        format.timeZone = TimeZone.getTimeZone("UTC")
        return format.format(Date())
    }
}

/**
 * Every input of [engine]'s model, whatever their number, shapes and types, filled with random values
 * as `mobilekit bench` fills them on the host (`runtime.benchmark.random_inputs`): integers over their
 * whole range, booleans 0 or 1, floats 0..255 (raw pixels); and a buffer for every output. Closing it
 * closes the engine.
 */
private class RandomRunner(private val engine: Engine, private val random: Random) : Closeable {
    private val interpreter = engine.interpreter
    private val inputs: Array<ByteBuffer> = Array(interpreter.inputTensorCount) {
        ByteBuffer.allocateDirect(interpreter.getInputTensor(it).numBytes()).order(ByteOrder.nativeOrder())
    }
    private val outputs: Map<Int, ByteBuffer> = (0 until interpreter.outputTensorCount).associateWith {
        ByteBuffer.allocateDirect(interpreter.getOutputTensor(it).numBytes()).order(ByteOrder.nativeOrder())
    }

    /** Random values into every input (the values do not change the work). */
    fun fill() {
        inputs.forEachIndexed { index, buffer ->
            val bytes = ByteArray(buffer.capacity()).also(random::nextBytes)
            buffer.rewind()
            when (interpreter.getInputTensor(index).dataType()) {
                DataType.FLOAT32 ->
                    buffer.asFloatBuffer().put(FloatArray(bytes.size / 4) { (bytes[it].toInt() and 0xFF).toFloat() })
                DataType.BOOL -> buffer.put(ByteArray(bytes.size) { (bytes[it].toInt() and 1).toByte() })
                else -> buffer.put(bytes)
            }
            buffer.rewind()
        }
    }

    /** One inference; milliseconds of wall time around the call. */
    fun runOnce(): Double {
        inputs.forEach { it.rewind() }
        outputs.values.forEach { it.rewind() }
        val start = System.nanoTime()
        interpreter.runForMultipleInputsOutputs(inputs, outputs)
        return (System.nanoTime() - start) / 1e6
    }

    override fun close() = engine.close()
}

/**
 * Write [target] through `<target>.tmp` and a rename, so a file that exists is complete; a failed
 * write leaves nothing behind.
 */
fun writeAtomically(target: File, write: (OutputStream) -> Unit) {
    target.parentFile?.mkdirs()
    val temporary = File(target.path + ".tmp")
    try {
        temporary.outputStream().use(write)
        if (!temporary.renameTo(target)) throw IOException("could not rename $temporary to $target")
    } finally {
        temporary.delete()
    }
}

fun writeAtomically(target: File, text: String) = writeAtomically(target) { it.write(text.toByteArray()) }
