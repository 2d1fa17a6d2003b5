package dev.mobilekit.core

import java.io.File

/**
 * Writes a results document for the Python side to validate against bench.schema.json:
 * `SampleResults MODEL.tflite OUT.json TIMES` (TIMES comma-separated milliseconds).
 */
object SampleResults {
    @JvmStatic
    fun main(args: Array<String>) {
        val model = File(args[0])
        val bytes = model.readBytes()
        val times = args[2].split(",").map { it.toDouble() }
        val json = ResultsJson.write(
            Device("Google Pixel 7 \"test\"", os = "Android 14 (API 34)", soc = "Google Tensor G2", cores = 8,
                runtime = "litert 1.4.0"),
            listOf(
                BenchResult.forFile(bytes, model.nameWithoutExtension, "xnnpack", 4, file = model.name, mode = "int8",
                    initMs = 15.25, firstInferenceMs = 8.5, latency = LatencyStats.of(times)),
                BenchResult.forFile(bytes, model.nameWithoutExtension, "nnapi", 1, file = model.name, mode = "int8",
                    error = "NNAPI delegate unavailable:\n\tnot supported on Android 15"),
            ),
            settings = Settings(warmup = 5, runs = times.size),
            created = "2025-01-01T12:00:00Z",
        )
        File(args[1]).writeText(json)
    }
}
