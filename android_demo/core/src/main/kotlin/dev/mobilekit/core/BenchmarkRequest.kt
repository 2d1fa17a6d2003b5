package dev.mobilekit.core

import java.io.File

/**
 * One benchmark-mode run as adb's intent extras describe it — the contract in android_demo/README.md
 * ("Benchmark mode") that scripts/android_bench.sh follows. [model] is resolved against the app
 * folder when the extra gives a relative path; [output] is a plain file name inside `bench/`.
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

        const val DEFAULT_THREADS = 1
        const val DEFAULT_WARMUP = 10
        const val DEFAULT_RUNS = 50

        // Upper bounds: a phone has at most a dozen or so cores, and a run must end well inside
        // android_bench.sh's per-run timeout without the timing array exhausting the heap.
        const val MAX_THREADS = 16
        const val MAX_WARMUP = 1_000
        const val MAX_RUNS = 10_000

        private val PLAIN_NAME = Regex("^[A-Za-z0-9._+-]+$")

        /**
         * The request the extras describe, read through [extra] (an intent's extras by key; null when
         * absent). [IllegalArgumentException] names the extra that is missing, mistyped or out of range
         * and the `am start` flag that sets it.
         */
        fun parse(extra: (String) -> Any?, appFolder: File): BenchmarkRequest {
            val path = string(extra, EXTRA_MODEL)
            require(!path.isNullOrBlank()) { "missing extra '$EXTRA_MODEL': --es $EXTRA_MODEL models/NAME.tflite" }
            val model = File(path).let { if (it.isAbsolute) it else File(appFolder, path) }
            val acceleratorId = string(extra, EXTRA_ACCELERATOR) ?: Accelerator.XNNPACK.id
            val accelerator = Accelerator.fromId(acceleratorId) ?: throw IllegalArgumentException(
                "extra '$EXTRA_ACCELERATOR' is '$acceleratorId'; use one of ${Accelerator.ids.joinToString()}",
            )
            val threads = int(extra, EXTRA_THREADS, DEFAULT_THREADS, 1..MAX_THREADS)
            val warmup = int(extra, EXTRA_WARMUP, DEFAULT_WARMUP, 0..MAX_WARMUP)
            val runs = int(extra, EXTRA_RUNS, DEFAULT_RUNS, 1..MAX_RUNS)
            val output = string(extra, EXTRA_OUTPUT) ?: defaultOutput(model, accelerator, threads)
            require(PLAIN_NAME.matches(output) && output != "." && output != "..") {
                "extra '$EXTRA_OUTPUT' must be a plain file name (letters, digits, . _ + -), got '$output'"
            }
            return BenchmarkRequest(model, accelerator, threads, warmup, runs, output)
        }

        /** `<model stem>_<accelerator>_t<threads>.json`, the name scripts/android_bench.sh asks for. */
        fun defaultOutput(model: File, accelerator: Accelerator, threads: Int): String =
            "${model.nameWithoutExtension}_${accelerator.id}_t$threads.json"

        private fun string(extra: (String) -> Any?, key: String): String? = when (val value = extra(key)) {
            null -> null
            is String -> value
            else -> throw IllegalArgumentException("extra '$key' must be a string: --es $key VALUE")
        }

        private fun int(extra: (String) -> Any?, key: String, default: Int, allowed: IntRange): Int {
            val value = when (val raw = extra(key)) {
                null -> default
                is Int -> raw
                else -> throw IllegalArgumentException("extra '$key' must be an integer: --ei $key N, got '$raw'")
            }
            require(value >= allowed.first) { "extra '$key' must be at least ${allowed.first} (--ei $key N), got $value" }
            require(value <= allowed.last) { "extra '$key' must be at most ${allowed.last} (--ei $key N), got $value" }
            return value
        }
    }
}
