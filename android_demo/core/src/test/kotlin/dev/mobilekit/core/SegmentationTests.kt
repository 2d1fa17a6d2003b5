package dev.mobilekit.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

private fun floatBytes(values: FloatArray, order: ByteOrder = ByteOrder.LITTLE_ENDIAN): ByteArray =
    ByteBuffer.allocate(values.size * 4).order(order).also { b -> values.forEach { b.putFloat(it) } }.array()

/** Pixel scores as rows of per-class values: scores[y][x] is the class vector of that pixel. */
private fun scoreMap(scores: List<List<FloatArray>>): ScoreMap =
    ScoreMap.ofFloats(
        scores.flatten().flatMap { it.toList() }.toFloatArray(), scores.size, scores[0].size, scores[0][0].size,
    )

fun segmentationTests(t: TestRunner) {
    t.test("segmentation: arg-max per pixel, ties to the lowest class, NaN never wins") {
        val scores = scoreMap(listOf(listOf(
            floatArrayOf(0.1f, 0.7f, 0.2f),
            floatArrayOf(0.4f, 0.2f, 0.4f), // tie: class 0
            floatArrayOf(0.1f, 0.45f, 0.45f), // tie: class 1
            floatArrayOf(Float.NaN, 0.3f, 0.1f), // NaN first: class 1
            floatArrayOf(Float.NaN, Float.NaN, Float.NaN), // all NaN: class 0
            floatArrayOf(Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY, -1e30f),
        )))
        checkEqual(listOf(1, 0, 1, 1, 0, 2), Segmentation.categoryMask(scores).classes.toList(), "classes")
    }
    t.test("segmentation: uint8 and int8 outputs are dequantized with their scale and zero point") {
        val u = ScoreMap.of(byteArrayOf(0, 128.toByte(), 255.toByte()), listOf(1, 1, 1, 3), TensorType.UINT8, 1f / 256, 0)
        checkEqual(listOf(0.0, 0.5, 255.0 / 256), (0 until 3).map { u.score(0, 0, it) }, "uint8")
        val s = ScoreMap.of(byteArrayOf(-128, 0, 127), listOf(1, 1, 1, 3), TensorType.INT8, 0.5f, -128)
        checkEqual(listOf(0.0, 64.0, 127.5), (0 until 3).map { s.score(0, 0, it) }, "int8")
        // No quantization (null or 0 scale): the integers as they are.
        val raw = ScoreMap.of(byteArrayOf(3, 200.toByte()), listOf(1, 1, 2), TensorType.UINT8, 0f, 9)
        checkEqual(listOf(3.0, 200.0), (0 until 2).map { raw.score(0, 0, it) }, "raw")
        // Dequantized in float32 as the app's classifier does: (q - zp) * scale.
        val odd = ScoreMap.of(byteArrayOf(77), listOf(1, 1, 1, 1), TensorType.UINT8, 0.0039215689f, 3)
        checkEqual(((77 - 3).toFloat() * 0.0039215689f).toDouble(), odd.score(0, 0, 0), "float32 product")
        // A negative zero point on uint8 and the arg-max on the integers' order.
        val mask = Segmentation.categoryMask(
            ScoreMap.of(byteArrayOf(10, 200.toByte(), 200.toByte(), 5), listOf(1, 2, 1, 2), TensorType.UINT8, 0.1f, -4),
        )
        checkEqual(listOf(1, 0), mask.classes.toList(), "arg-max of uint8")
    }
    t.test("segmentation: float32 outputs in either byte order; shape, type and size errors") {
        val values = floatArrayOf(1f, 2f, 3.5f, -1f)
        for (order in listOf(ByteOrder.LITTLE_ENDIAN, ByteOrder.BIG_ENDIAN)) {
            val map = ScoreMap.of(floatBytes(values, order), listOf(1, 1, 2, 2), TensorType.FLOAT32, null, null, order)
            checkEqual(listOf(1.0, 2.0, 3.5, -1.0), listOf(map.score(0, 0, 0), map.score(0, 0, 1), map.score(0, 1, 0), map.score(0, 1, 1)), "$order")
        }
        checkThrows<IllegalArgumentException>("batch 2") { ScoreMap.of(ByteArray(8), listOf(2, 1, 2, 2), TensorType.UINT8, null, null) }
        checkThrows<IllegalArgumentException>("rank 2") { ScoreMap.of(ByteArray(8), listOf(1, 8), TensorType.UINT8, null, null) }
        checkThrows<IllegalArgumentException>("size") { ScoreMap.of(ByteArray(7), listOf(1, 2, 2, 2), TensorType.UINT8, null, null) }
        checkThrows<IllegalArgumentException>("int32") { ScoreMap.of(ByteArray(32), listOf(1, 2, 2, 2), TensorType.INT32, null, null) }
        checkThrows<IllegalArgumentException>("empty") { ScoreMap.of(ByteArray(0), listOf(1, 0, 2, 2), TensorType.UINT8, null, null) }
        checkThrows<IllegalArgumentException>("mask size") { Segmentation.categoryMask(ScoreMap.ofFloats(FloatArray(2), 1, 1, 2), 0, 3) }
    }
    t.test("segmentation: resizing to the tensor's own size is the plain arg-max") {
        val random = kotlin.random.Random(5)
        val map = ScoreMap.ofFloats(FloatArray(7 * 5 * 4) { random.nextInt(6).toFloat() }, 7, 5, 4) // many ties
        checkEqual(
            Segmentation.categoryMask(map).classes.toList(), Segmentation.categoryMask(map, 5, 7).classes.toList(), "same size",
        )
    }
    t.test("segmentation: bilinear on the scores then arg-max, half-pixel centres, by hand") {
        // One row of two pixels, two classes: class 1's score falls from 1 to 0, class 0's rises from 0 to 1.
        val map = scoreMap(listOf(listOf(floatArrayOf(0f, 1f), floatArrayOf(1f, 0f))))
        // 8 wide: source x = (i + 0.5) / 4 - 0.5 = -0.375 (0), -0.125 (0), 0.125, 0.375, 0.625, 0.875, 1.125 (1), 1.375 (1):
        // class 0's score is x, class 1's 1 - x; at x = 0.5 neither sample lands, so 4 pixels each.
        checkEqual(listOf(1, 1, 1, 1, 0, 0, 0, 0), Segmentation.categoryMask(map, 8, 1).classes.toList(), "8 wide")
        // 3 wide: x = (i + 0.5) * 2 / 3 - 0.5 = -0.1667 (0), 0.5, 1.1667 (1): the middle is a tie, class 0 wins.
        checkEqual(listOf(1, 0, 0), Segmentation.categoryMask(map, 3, 1).classes.toList(), "3 wide, a tie in the middle")
        // Nearest-neighbour would differ: a 2x2 tensor whose diagonal classes blend in the middle.
        val diagonal = scoreMap(listOf(
            listOf(floatArrayOf(1f, 0f, 0f), floatArrayOf(0f, 0.6f, 0f)),
            listOf(floatArrayOf(0f, 0.6f, 0f), floatArrayOf(0f, 0f, 1f)),
        ))
        val mask = Segmentation.categoryMask(diagonal, 4, 4)
        // At source (0.25, 0.25): class 0 = 0.75*0.75 = 0.5625, class 1 = 0.6*(2*0.75*0.25) = 0.225, class 2 = 0.0625.
        checkEqual(0, mask.at(1, 1), "(1, 1)")
        // At source (0.25, 0.75): class 1 = 0.6*(0.75*0.75 + 0.25*0.25) = 0.375 beats 0.1875 and 0.1875.
        checkEqual(1, mask.at(1, 2), "(1, 2)")
        checkEqual(listOf(0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 2, 2, 1, 1, 2, 2), mask.classes.toList(), "4x4")
    }
    t.test("segmentation: a one-channel output is a foreground mask (MediaPipe's 0.5 cut-off)") {
        val map = ScoreMap.ofFloats(floatArrayOf(0.2f, 0.5f, 0.51f, 0.9f), 1, 4, 1)
        val none = CategoryMask.NO_CLASS
        checkEqual(listOf(none, none, 0, 0), Segmentation.categoryMask(map).classes.toList(), "probabilities")
        val logits = ScoreMap.ofFloats(floatArrayOf(-2f, 0f, 0.01f, 0.3f), 1, 4, 1)
        checkEqual(listOf(none, none, 0, 0), Segmentation.categoryMask(logits, Activation.SIGMOID).classes.toList(), "sigmoid")
        // 6 wide: x = -0.17 (0.2), 0.5 (0.35), 1.17 (0.5017), 1.83, 2.5, 3.17 (0.9).
        checkEqual(listOf(none, none, 0, 0, 0, 0), Segmentation.categoryMask(map, 6, 1).classes.toList(), "resized")
        checkEqual(listOf(0), Segmentation.legend(Segmentation.categoryMask(map), listOf("person"), null).map { it.index }, "legend")
        checkEqual(0, Segmentation.overlay(Segmentation.categoryMask(map), null)[0], "no class is transparent")
    }
    t.test("segmentation: the background class") {
        checkEqual(0, Segmentation.backgroundClass(null), "no labels: class 0")
        checkEqual(0, Segmentation.backgroundClass(listOf("background", "cat")), "named")
        checkEqual(2, Segmentation.backgroundClass(listOf("cat", "dog", "__Background__")), "any case, underscores")
        checkEqual(null, Segmentation.backgroundClass(listOf("road", "sidewalk")), "none named")
    }
    t.test("segmentation: PASCAL VOC colours, overlay alpha, background transparent") {
        val rgb = listOf(0, 1, 2, 3, 4, 15, 20, 255).map { Segmentation.color(it) and 0xFFFFFF }
        checkEqual(
            listOf(0x000000, 0x800000, 0x008000, 0x808000, 0x000080, 0xC08080, 0x004080, 0xE0E0C0),
            rgb, "colours of classes 0, 1, 2, 3, 4, 15 (person), 20 (tv monitor), 255",
        )
        check(Segmentation.color(7) ushr 24 == 0xFF) { "legend colours are opaque" }
        checkEqual(256, (0 until 256).map(Segmentation::color).toSet().size, "256 distinct colours")
        val mask = CategoryMask(3, 1, intArrayOf(0, 1, 2))
        checkEqual(listOf(0, 0x99800000.toInt(), 0x99008000.toInt()), Segmentation.overlay(mask, 0).toList(), "background 0")
        checkEqual(listOf(0x40000000, 0, 0x40008000), Segmentation.overlay(mask, 1, alpha = 0x40).toList(), "background 1")
        checkEqual(listOf(0x99000000.toInt(), 0x99800000.toInt(), 0x99008000.toInt()), Segmentation.overlay(mask, null).toList(), "none")
        checkThrows<IllegalArgumentException>("alpha") { Segmentation.overlay(mask, 0, alpha = 256) }
    }
    t.test("segmentation: legend of the classes present, largest share first") {
        val mask = CategoryMask(4, 2, intArrayOf(2, 2, 0, 5, 2, 0, 0, 5))
        val legend = Segmentation.legend(mask, listOf("background", "cat", "dog"), 0)
        checkEqual(
            listOf(
                LegendEntry(0, "background", Segmentation.color(0), 3 / 8.0, true),
                LegendEntry(2, "dog", Segmentation.color(2), 3 / 8.0, false),
                LegendEntry(5, null, Segmentation.color(5), 2 / 8.0, false),
            ),
            legend, "legend",
        )
        checkEqual(listOf("background", "dog", "#5"), legend.map { it.name }, "names")
        checkEqual(listOf(3, 0, 3, 0, 0, 2), mask.counts(6).toList(), "counts")
    }
}
