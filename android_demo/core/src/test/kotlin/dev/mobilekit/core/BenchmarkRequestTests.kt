package dev.mobilekit.core

import java.io.File

// The benchmark-mode contract (android_demo/README.md): extras as `am start` delivers them.

private val APP_FOLDER = File("/sdcard/Android/data/dev.mobilekit.demo/files")

private fun parse(vararg extras: Pair<String, Any>) = BenchmarkRequest.parse({ extras.toMap()[it] }, APP_FOLDER)

private fun messageOf(vararg extras: Pair<String, Any>): String =
    try {
        parse(*extras)
        throw CheckFailed("expected IllegalArgumentException for ${extras.toList()}")
    } catch (e: IllegalArgumentException) {
        e.message ?: ""
    }

fun benchmarkRequestTests(t: TestRunner) {
    t.test("benchmark request: all extras, as android_bench.sh sends them") {
        val r = parse(
            "model" to "models/mnv3.tflite", "accelerator" to "gpu", "threads" to 4, "warmup" to 3,
            "runs" to 20, "output" to "mnv3_gpu_t4.json",
        )
        checkEqual(File(APP_FOLDER, "models/mnv3.tflite"), r.model, "relative model path")
        checkEqual(BenchmarkRequest(r.model, Accelerator.GPU, 4, 3, 20, "mnv3_gpu_t4.json"), r, "request")
    }
    t.test("benchmark request: defaults and an absolute model path") {
        val r = parse("model" to "/data/local/tmp/m.tflite")
        checkEqual(File("/data/local/tmp/m.tflite"), r.model, "absolute path kept")
        checkEqual(Accelerator.XNNPACK, r.accelerator, "accelerator")
        checkEqual(listOf(1, 10, 50), listOf(r.threads, r.warmup, r.runs), "threads, warmup, runs")
        checkEqual("m_xnnpack_t1.json", r.output, "default output name")
    }
    t.test("benchmark request: every accelerator id is a delegate of the results schema") {
        checkEqual(listOf("xnnpack", "cpu", "gpu", "nnapi"), Accelerator.ids, "ids")
        for (id in Accelerator.ids) checkEqual(id, parse("model" to "m.tflite", "accelerator" to id).accelerator.id, id)
    }
    t.test("benchmark request: mistakes name the extra and the flag") {
        check("missing extra 'model'" in messageOf()) { messageOf() }
        check("--es model" in messageOf("model" to " ")) { "blank model" }
        val accel = messageOf("model" to "m.tflite", "accelerator" to "tpu")
        check("'tpu'" in accel && "xnnpack, cpu, gpu, nnapi" in accel) { accel }
        val typed = messageOf("model" to "m.tflite", "threads" to "4")
        check("--ei threads" in typed && "integer" in typed) { typed }
        check("at least 1" in messageOf("model" to "m.tflite", "runs" to 0)) { "runs 0" }
        check("at least 0" in messageOf("model" to "m.tflite", "warmup" to -1)) { "warmup -1" }
        check("at least 1" in messageOf("model" to "m.tflite", "threads" to 0)) { "threads 0" }
        check("--es model" in messageOf("model" to 7)) { "model as int" }
        check("at most 10000" in messageOf("model" to "m.tflite", "runs" to 2_000_000_000)) { "runs huge" }
        check("at most 1000 (--ei warmup N)" in messageOf("model" to "m.tflite", "warmup" to 1001)) { "warmup 1001" }
        check("at most 16" in messageOf("model" to "m.tflite", "threads" to 17)) { "threads 17" }
        for (bad in listOf("../x.json", "a/b.json", "..", "x y.json")) {
            check("plain file name" in messageOf("model" to "m.tflite", "output" to bad)) { bad }
        }
    }
    t.test("benchmark request: the largest values allowed are accepted") {
        val r = parse("model" to "m.tflite", "threads" to 16, "warmup" to 1000, "runs" to 10_000)
        checkEqual(listOf(16, 1000, 10_000), listOf(r.threads, r.warmup, r.runs), "threads, warmup, runs")
    }
}
