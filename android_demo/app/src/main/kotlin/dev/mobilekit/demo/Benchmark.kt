package dev.mobilekit.demo

import android.os.Bundle
import dev.mobilekit.core.BenchResult
import dev.mobilekit.core.Device
import dev.mobilekit.core.LatencyStats
import dev.mobilekit.core.ResultsJson
import dev.mobilekit.core.Settings
import java.io.File
import java.text.SimpleDateFormat
import java.util.Date
import java.util.Locale
import java.util.Random
import java.util.TimeZone

/**
 * One benchmark run as the intent extras describe it (android_demo/README.md, "Benchmark mode").
 * [model] is resolved against the app folder when relative.
 */
data class BenchmarkRequest(
    val model: File,
    val accelerator: Accelerator,
    val threads: Int,
    val warmup: Int,
    val runs: Int,
    val output: String,
) {
    companion object {
        const val EXTRA_MODEL = "model"
        const val EXTRA_ACCELERATOR = "accelerator"
        const val EXTRA_THREADS = "threads"
        const val EXTRA_WARMUP = "warmup"
        const val EXTRA_RUNS = "runs"
        const val EXTRA_OUTPUT = "output"

        private val SAFE_NAME = Regex("^[A-Za-z0-9._-]+$")

        /** The request the extras describe; [IllegalArgumentException] says which extra is wrong. */
        fun fromExtras(extras: Bundle?, appFolder: File): BenchmarkRequest {
            val path = extras?.getString(EXTRA_MODEL)
            require(!path.isNullOrBlank()) { "missing extra '$EXTRA_MODEL': --es $EXTRA_MODEL models/NAME.tflite" }
            val model = File(path).let { if (it.isAbsolute) it else File(appFolder, path) }
            val acceleratorId = extras.getString(EXTRA_ACCELERATOR) ?: Accelerator.XNNPACK.id
            val accelerator = Accelerator.fromId(acceleratorId)
                ?: throw IllegalArgumentException("extra '$EXTRA_ACCELERATOR' is '$acceleratorId'; use one of ${Accelerator.ids}")
            val threads = extras.getInt(EXTRA_THREADS, 1)
            val warmup = extras.getInt(EXTRA_WARMUP, 10)
            val runs = extras.getInt(EXTRA_RUNS, 50)
            require(threads >= 1) { "extra '$EXTRA_THREADS' must be at least 1 (--ei $EXTRA_THREADS N), got $threads" }
            require(warmup >= 0) { "extra '$EXTRA_WARMUP' must be 0 or more (--ei $EXTRA_WARMUP N), got $warmup" }
            require(runs >= 1) { "extra '$EXTRA_RUNS' must be at least 1 (--ei $EXTRA_RUNS N), got $runs" }
            val output = extras.getString(EXTRA_OUTPUT) ?: defaultOutput(model, accelerator, threads)
            require(SAFE_NAME.matches(output)) { "extra '$EXTRA_OUTPUT' must be a plain file name, got '$output'" }
            return BenchmarkRequest(model, accelerator, threads, warmup, runs, output)
        }

        fun defaultOutput(model: File, accelerator: Accelerator, threads: Int): String =
            "${model.nameWithoutExtension}_${accelerator.id}_t$threads.json"
    }
}

/** Runs a [BenchmarkRequest] the way `mobilekit bench` measures on the host, and writes its results JSON. */
object Benchmark {
    /** Fixed so every run feeds the same input bytes. */
    private const val INPUT_SEED = 0L

    /**
     * Run [request] and return the mobilekit.bench/1 document. A delegate that fails is a result with
     * `error` (and no latency), not an exception; an unreadable model file throws [java.io.IOException].
     */
    fun run(request: BenchmarkRequest, device: Device, progress: (String) -> Unit = {}): String {
        val bytes = request.model.readBytes()
        val settings = Settings(warmup = request.warmup, runs = request.runs, inputs = "random")
        val result = measure(bytes, request, progress)
        return ResultsJson.write(device, listOf(result), settings, created = nowIso())
    }

    private fun measure(bytes: ByteArray, request: BenchmarkRequest, progress: (String) -> Unit): BenchResult {
        fun failed(error: String) = BenchResult.forFile(
            bytes, model = request.model.nameWithoutExtension, delegate = request.accelerator.id,
            threads = request.threads, file = request.model.name, error = error,
        )
        progress("loading ${request.model.name} on ${request.accelerator.id}")
        val start = System.nanoTime()
        val classifier = try {
            Classifier.open(bytes, request.accelerator, request.threads)
        } catch (e: AcceleratorException) {
            return failed(e.message ?: e.toString())
        } catch (e: IllegalArgumentException) {
            return failed(e.message ?: e.toString())
        }
        classifier.use {
            try {
                it.fillRandomInput(Random(INPUT_SEED))
                val initMs = (System.nanoTime() - start) / 1e6
                val firstMs = it.runOnce()
                progress("warming up: ${request.warmup} runs")
                repeat(request.warmup) { _ -> it.runOnce() }
                progress("timing: ${request.runs} runs")
                val times = DoubleArray(request.runs) { _ -> it.runOnce() }
                return BenchResult.forFile(
                    bytes, model = request.model.nameWithoutExtension, delegate = request.accelerator.id,
                    threads = request.threads, file = request.model.name, initMs = initMs,
                    firstInferenceMs = firstMs, latency = LatencyStats.of(times),
                )
            } catch (e: RuntimeException) {
                // A delegate can accept a model and still fail when it runs (driver errors).
                return failed("inference failed on ${request.accelerator.id}: ${e.message}")
            }
        }
    }

    private fun nowIso(): String {
        val format = SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'Z'", Locale.US)
        format.timeZone = TimeZone.getTimeZone("UTC")
        return format.format(Date())
    }
}

/** Write [text] to [target] through `<target>.tmp` and a rename, so a file that exists is complete. */
fun writeAtomically(target: File, text: String) {
    target.parentFile?.mkdirs()
    val temporary = File(target.path + ".tmp")
    temporary.writeText(text)
    if (!temporary.renameTo(target)) {
        temporary.delete()
        throw java.io.IOException("could not rename $temporary to $target")
    }
}
