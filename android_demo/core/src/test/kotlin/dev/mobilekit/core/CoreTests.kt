package dev.mobilekit.core

/** The core's unit tests: `java -cp core-tests.jar dev.mobilekit.core.CoreTestsKt`. */
fun main() {
    val t = TestRunner()

    // --- LatencyStats: hand-computed values and NumPy's definitions -------------------------
    t.test("stats of 1..10 by hand") {
        val s = LatencyStats.of(DoubleArray(10) { (it + 1).toDouble() })
        checkEqual(5.5, s.median, "median")
        checkEqual(9.1, s.p90, "p90 = 9 + 0.1 * (10 - 9)")   // virtual index 8.1
        checkEqual(5.5, s.mean, "mean")
        checkClose(Math.sqrt(8.25), s.std, what = "population std")
        checkEqual(1.0, s.min, "min")
        checkEqual(10.0, s.max, "max")
        checkEqual(10, s.runs, "runs")
    }
    t.test("stats of an odd count, unsorted") {
        val s = LatencyStats.of(doubleArrayOf(3.0, 1.0, 2.0))
        checkEqual(2.0, s.median, "median")
        checkClose(2.8, s.p90, what = "p90: index 1.8 between 2 and 3")
        checkClose(Math.sqrt(2.0 / 3.0), s.std, what = "std")
    }
    t.test("stats of one run") {
        val s = LatencyStats.of(doubleArrayOf(4.25))
        checkEqual(LatencyStats(4.25, 4.25, 4.25, 0.0, 4.25, 4.25, 1), s, "stats")
    }
    t.test("stats of no runs is an error") {
        checkThrows<IllegalArgumentException>("empty") { LatencyStats.of(DoubleArray(0)) }
    }
    t.test("pairwise sum equals a plain sum for small integers") {
        val values = DoubleArray(1000) { (it % 17).toDouble() }
        checkEqual(values.sum(), LatencyStats.pairwiseSum(values, 0, values.size), "sum")
    }

    // --- TopK -------------------------------------------------------------------------------
    t.test("top-k order and labels") {
        val r = TopK.topK(floatArrayOf(0.1f, 0.7f, 0.05f, 0.15f), 2, listOf("a", "b", "c", "d"))
        checkEqual(listOf(Scored(1, 0.7f, "b"), Scored(3, 0.15f, "d")), r, "top-2")
    }
    t.test("top-k ties keep the lower index first") {
        checkEqual(listOf(1, 3, 0), TopK.indices(floatArrayOf(0.2f, 0.5f, 0.1f, 0.5f), 3).toList(), "ties")
    }
    t.test("top-k with k beyond the count, NaN last, k = 0") {
        checkEqual(listOf(2, 0, 1), TopK.indices(floatArrayOf(1f, Float.NaN, 3f), 10).toList(), "all")
        checkEqual(0, TopK.indices(floatArrayOf(1f), 0).size, "k=0")
        checkThrows<IllegalArgumentException>("negative k") { TopK.indices(floatArrayOf(1f), -1) }
    }

    // --- Labels -----------------------------------------------------------------------------
    t.test("labels: trim, CRLF, trailing newline dropped") {
        checkEqual(listOf("cat", "dog", "tabby cat"), Labels.parse(" cat\r\ndog \n\ttabby cat\n"), "labels")
        checkEqual(listOf("a", "", "b"), Labels.parse("a\n\nb"), "inner empty line kept")
        checkEqual(emptyList<String>(), Labels.parse(""), "empty file")
        checkEqual(listOf("x"), Labels.parse("\uFEFFx\n".toByteArray()), "BOM")
    }

    // --- Preprocess -------------------------------------------------------------------------
    t.test("resize of a constant image stays constant") {
        val img = RgbImage(5, 3, ByteArray(45) { 200.toByte() })
        val out = Preprocess.resizeBilinear(img, 7, 4)
        check(out.all { it == 200.0 }) { "expected all 200, got ${out.toList()}" }
    }
    t.test("resize 2x1 -> 4x1 by hand (half-pixel centres, clamped at the edges)") {
        val img = RgbImage(2, 1, byteArrayOf(0, 0, 0, 100, 100, 100))
        val out = Preprocess.resizeBilinear(img, 1, 4)
        // source x = (i + 0.5) * 0.5 - 0.5 = -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1)
        checkEqual(listOf(0.0, 25.0, 75.0, 100.0), out.filterIndexed { i, _ -> i % 3 == 0 }, "red channel")
    }
    t.test("center crop takes the central square") {
        // 4 wide, 2 high: the central 2x2 square is columns 1..2
        val px = ByteArray(24) { i -> ((i / 3) % 4 * 10).toByte() }
        val out = Preprocess.centerCrop(RgbImage(4, 2, px), 2)
        checkEqual(listOf(10.0, 20.0, 10.0, 20.0), out.filterIndexed { i, _ -> i % 3 == 0 }, "crop")
    }
    t.test("pixels round half to even and clip") {
        checkEqual(listOf(0, 2, 2, 4, 255, 0), Preprocess.toPixels(doubleArrayOf(0.5, 1.5, 2.5, 3.5, 300.0, -2.0)).toList(), "rint")
    }
    t.test("normalize per channel and with one value") {
        val n = Preprocess.normalize(intArrayOf(127, 128, 255), floatArrayOf(127f, 128f, 0f), floatArrayOf(1f, 2f, 255f))
        checkEqual(listOf(0f, 0f, 1f), n.toList(), "per channel")
        val one = Preprocess.normalize(intArrayOf(0, 255, 51), floatArrayOf(0f), floatArrayOf(255f))
        checkEqual(listOf(0f, 1f, 0.2f), one.toList(), "one value")
    }
    t.test("quantize: half to even, clipped, int8 two's complement") {
        val u = Preprocess.quantize(floatArrayOf(0.5f, 1.5f, 2.5f, 1000f, -5f), 1f, 0, QuantType.UINT8)
        checkEqual(listOf(0, 2, 2, 255, 0), u.map { it.toInt() and 0xFF }, "uint8")
        val s = Preprocess.quantize(floatArrayOf(-1f, 0f, 1f, 0.0039215f), 1f / 128f, 0, QuantType.INT8)
        checkEqual(listOf(-128, 0, 127, 1), s.map { it.toInt() }, "int8")
        checkThrows<IllegalArgumentException>("zero scale") { Preprocess.quantize(floatArrayOf(1f), 0f, 0, QuantType.INT8) }
    }

    // --- ResultsJson ------------------------------------------------------------------------
    t.test("sha256 of 'abc'") {
        checkEqual("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", ResultsJson.sha256("abc".toByteArray()), "sha")
    }
    t.test("JSON strings are escaped") {
        checkEqual("\"a\\\"b\\\\c\\nd\\u0001\"", ResultsJson.str("a\"b\\c\nd\u0001"), "escape")
        checkThrows<IllegalArgumentException>("NaN") { ResultsJson.num(Double.NaN) }
    }
    t.test("results document holds the schema fields") {
        val json = ResultsJson.write(
            Device("Google Pixel 7", os = "Android 14 (API 34)", soc = "Google Tensor G2", cores = 8, runtime = "litert 1.4.0"),
            listOf(
                BenchResult.forFile("model".toByteArray(), "m_int8", "xnnpack", 4, mode = "int8", initMs = 12.5,
                    firstInferenceMs = 9.0, latency = LatencyStats.of(doubleArrayOf(1.0, 2.0))),
                BenchResult.forFile("model".toByteArray(), "m_int8", "gpu", 1, error = "GPU delegate: op \"X\" unsupported"),
            ),
        )
        for (needle in listOf("\"schema\": \"mobilekit.bench/1\"", "\"kind\": \"android\"", "\"latency_ms\": {",
                              "\"median\": 1.5", "\"size_bytes\": 5", "\"error\": \"GPU delegate: op \\\"X\\\" unsupported\"")) {
            check(needle in json) { "missing $needle in\n$json" }
        }
    }
    t.test("a result needs latency or an error, and a known delegate") {
        checkThrows<IllegalArgumentException>("neither") { BenchResult("m", "cpu", 1) }
        checkThrows<IllegalArgumentException>("delegate") { BenchResult("m", "tpu", 1, error = "x") }
    }

    modelInfoTests(t) // ModelInfoTests.kt
    benchmarkRequestTests(t) // BenchmarkRequestTests.kt
    photoTests(t) // PhotoTests.kt
    delegationTests(t) // DelegationTests.kt
    segmentationTests(t) // SegmentationTests.kt

    kotlin.system.exitProcess(if (t.run() == 0) 0 else 1)
}
