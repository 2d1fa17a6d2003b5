package dev.mobilekit.core

import java.security.MessageDigest

/** The phone a run was made on: the `device` object of mobilekit.bench/1. */
data class Device(
    val name: String,
    val os: String? = null,
    val soc: String? = null,
    val cores: Int? = null,
    val runtime: String? = null,
    val kind: String = "android",
)

/** How the run was made: the `settings` object. */
data class Settings(val warmup: Int, val runs: Int, val inputs: String = "random", val interleaved: Boolean = false)

/**
 * One model file at one delegate and thread count: a `result` entry. Either [latency] or [error]
 * (a delegate that failed is recorded with its error, not a crash) must be given.
 */
data class BenchResult(
    val model: String,
    val delegate: String,
    val threads: Int,
    val file: String? = null,
    val sha256: String? = null,
    val sizeBytes: Long? = null,
    val mode: String? = null,
    val initMs: Double? = null,
    val firstInferenceMs: Double? = null,
    val latency: LatencyStats? = null,
    val error: String? = null,
) {
    init {
        require(model.isNotEmpty()) { "model name must not be empty" }
        require(delegate in DELEGATES) { "delegate must be one of $DELEGATES, got '$delegate'" }
        require(threads >= 1) { "threads must be >= 1, got $threads" }
        require(mode == null || mode in MODES) { "mode must be one of $MODES, got '$mode'" }
        require(sha256 == null || SHA256.matches(sha256)) { "sha256 must be 64 lowercase hex digits" }
        require(latency != null || error != null) { "a result needs latency or an error" }
    }

    companion object {
        val DELEGATES = Accelerator.ids
        val MODES = listOf("int8", "fp16", "dynamic", "float32", "unknown")
        private val SHA256 = Regex("^[0-9a-f]{64}$")

        /** A result for [modelBytes]: its SHA-256 and size filled in. */
        fun forFile(
            modelBytes: ByteArray, model: String, delegate: String, threads: Int, file: String? = null,
            mode: String? = null, initMs: Double? = null, firstInferenceMs: Double? = null,
            latency: LatencyStats? = null, error: String? = null,
        ) = BenchResult(
            model = model, delegate = delegate, threads = threads, file = file, sha256 = ResultsJson.sha256(modelBytes),
            sizeBytes = modelBytes.size.toLong(), mode = mode, initMs = initMs, firstInferenceMs = firstInferenceMs,
            latency = latency, error = error,
        )
    }
}

/** Writes the results JSON that `mobilekit report` reads (schema mobilekit.bench/1, bench.schema.json). */
object ResultsJson {
    const val SCHEMA = "mobilekit.bench/1"

    fun sha256(bytes: ByteArray): String =
        MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it.toInt() and 0xFF) }

    fun write(
        device: Device, results: List<BenchResult>, settings: Settings? = null, created: String? = null,
        tool: String? = "mobilekit-android 0.1.0",
    ): String {
        require(results.isNotEmpty()) { "a results document needs at least one result" }
        require(device.name.isNotEmpty()) { "device name must not be empty" }
        val root = Obj()
        root.put("schema", str(SCHEMA))
        created?.let { root.put("created", str(it)) }
        tool?.let { root.put("tool", str(it)) }
        val dev = Obj()
        dev.put("name", str(device.name))
        dev.put("kind", str(device.kind))
        device.os?.let { dev.put("os", str(it)) }
        device.soc?.let { dev.put("soc", str(it)) }
        device.cores?.let { dev.put("cores", it.toString()) }
        device.runtime?.let { dev.put("runtime", str(it)) }
        root.put("device", dev.render(1))
        settings?.let {
            val s = Obj()
            s.put("warmup", it.warmup.toString())
            s.put("runs", it.runs.toString())
            s.put("interleaved", it.interleaved.toString())
            s.put("inputs", str(it.inputs))
            root.put("settings", s.render(1))
        }
        root.put("results", results.joinToString(",\n    ", "[\n    ", "\n  ]") { result(it).render(2) })
        return root.render(0) + "\n"
    }

    private fun result(r: BenchResult): Obj {
        val o = Obj()
        o.put("model", str(r.model))
        r.file?.let { o.put("file", str(it)) }
        r.sha256?.let { o.put("sha256", str(it)) }
        r.sizeBytes?.let { o.put("size_bytes", it.toString()) }
        r.mode?.let { o.put("mode", str(it)) }
        o.put("delegate", str(r.delegate))
        o.put("threads", r.threads.toString())
        r.initMs?.let { o.put("init_ms", num(it)) }
        r.firstInferenceMs?.let { o.put("first_inference_ms", num(it)) }
        r.latency?.let { s ->
            val l = Obj()
            l.put("median", num(s.median))
            l.put("p90", num(s.p90))
            l.put("mean", num(s.mean))
            l.put("std", num(s.std))
            l.put("min", num(s.min))
            l.put("max", num(s.max))
            l.put("runs", s.runs.toString())
            o.put("latency_ms", l.render(3))
        }
        r.error?.let { o.put("error", str(it)) }
        return o
    }

    /** A JSON number; JSON has no NaN or infinity. */
    fun num(value: Double): String {
        require(value.isFinite()) { "JSON numbers must be finite, got $value" }
        return value.toString()
    }

    /** A JSON string literal with quotes, backslashes and control characters escaped. */
    fun str(value: String): String {
        val sb = StringBuilder(value.length + 2)
        sb.append('"')
        for (ch in value) {
            when (ch) {
                '"' -> sb.append("\\\"")
                '\\' -> sb.append("\\\\")
                '\n' -> sb.append("\\n")
                '\r' -> sb.append("\\r")
                '\t' -> sb.append("\\t")
                '\b' -> sb.append("\\b")
                '\u000C' -> sb.append("\\f")
                else -> if (ch < ' ' || ch == '\u2028' || ch == '\u2029') {
                    sb.append("\\u").append("%04x".format(ch.code))
                } else {
                    sb.append(ch)
                }
            }
        }
        return sb.append('"').toString()
    }

    /** Keys in insertion order, values already rendered. */
    private class Obj {
        private val entries = mutableListOf<Pair<String, String>>()
        fun put(key: String, rendered: String) { entries += key to rendered }
        fun render(depth: Int): String {
            val pad = "  ".repeat(depth + 1)
            return entries.joinToString(",\n", "{\n", "\n" + "  ".repeat(depth) + "}") { (k, v) -> "$pad${str(k)}: $v" }
        }
    }
}
