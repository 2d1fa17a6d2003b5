package dev.mobilekit.demo

import dev.mobilekit.core.Accelerator
import dev.mobilekit.core.BenchResult
import dev.mobilekit.core.BenchmarkRequest
import dev.mobilekit.core.Device
import dev.mobilekit.core.LatencyStats
import dev.mobilekit.core.ModelInfo
import dev.mobilekit.core.ResultsJson
import dev.mobilekit.core.Settings
import java.io.File
import java.io.IOException
import java.io.OutputStream
import java.text.SimpleDateFormat
import java.util.Date
import java.util.Locale
import java.util.Random
import java.util.TimeZone

/** Runs a [BenchmarkRequest] the way `mobilekit bench` measures on the host, and writes its results JSON. */
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
        progress("loading ${request.model.name} on ${request.accelerator.id}")
        val start = System.nanoTime()
        val classifier = try {
            Classifier.open(bytes, request.accelerator, request.threads, info)
        } catch (e: AcceleratorException) {
            return result(error = e.message ?: e.toString())
        } catch (e: IllegalArgumentException) {
            return result(error = e.message ?: e.toString())
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
