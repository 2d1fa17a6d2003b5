package dev.mobilekit.core

import java.io.File

/**
 * Command-line entry for the cross-language test: the [Segmentation] post-processing of a raw output
 * tensor dump, printed as JSON, one line per requested size.
 *
 *     SegmentationCli TENSOR.bin SHAPE uint8|int8|float32 SCALE ZERO_POINT SIZES ACTIVATION [LABELS.txt]
 *
 * TENSOR.bin holds the tensor's bytes (float32 little-endian); SHAPE is comma-separated
 * (`1,12,12,11`); SCALE 0 means no quantization; SIZES is comma-separated, each `WIDTHxHEIGHT` or
 * `tensor` (the category mask at the tensor's own size, no resizing); ACTIVATION is NONE, SIGMOID or
 * SOFTMAX. Each line: `{"width", "height", "mask": [class per pixel, row-major], "background",
 * "overlay": [ARGB per pixel, unsigned], "legend": [{"index", "label", "color", "share", "background"}]}`.
 */
object SegmentationCli {
    @JvmStatic
    fun main(args: Array<String>) {
        if (args.size !in 7..8) {
            System.err.println(
                "usage: SegmentationCli TENSOR.bin SHAPE uint8|int8|float32 SCALE ZERO_POINT SIZES ACTIVATION [LABELS.txt]",
            )
            kotlin.system.exitProcess(2)
        }
        val shape = args[1].split(",").map { it.trim().toInt() }
        val type = when (args[2]) {
            "uint8" -> TensorType.UINT8
            "int8" -> TensorType.INT8
            "float32" -> TensorType.FLOAT32
            else -> error("unknown type ${args[2]}: use uint8, int8 or float32")
        }
        val scores = ScoreMap.of(File(args[0]).readBytes(), shape, type, args[3].toFloat(), args[4].toInt())
        val activation = Activation.valueOf(args[6])
        val labels = args.getOrNull(7)?.let { Labels.parse(File(it).readBytes()) }
        val background = Segmentation.backgroundClass(labels)
        for (size in args[5].split(",")) {
            val mask = if (size == "tensor") {
                Segmentation.categoryMask(scores, activation)
            } else {
                val (width, height) = size.split("x").map { it.toInt() }
                Segmentation.categoryMask(scores, width, height, activation)
            }
            println(json(mask, Segmentation.overlay(mask, background), Segmentation.legend(mask, labels, background), background))
        }
    }

    private fun json(mask: CategoryMask, overlay: IntArray, legend: List<LegendEntry>, background: Int?): String {
        val entries = legend.joinToString(", ", "[", "]") { entry ->
            "{\"index\": ${entry.index}, \"label\": ${entry.label?.let(ResultsJson::str) ?: "null"}, " +
                "\"color\": ${entry.color.toLong() and 0xFFFFFFFFL}, \"share\": ${ResultsJson.num(entry.share)}, " +
                "\"background\": ${entry.background}}"
        }
        return "{\"width\": ${mask.width}, \"height\": ${mask.height}, " +
            "\"mask\": ${mask.classes.joinToString(", ", "[", "]")}, \"background\": ${background ?: "null"}, " +
            "\"overlay\": ${overlay.joinToString(", ", "[", "]") { (it.toLong() and 0xFFFFFFFFL).toString() }}, " +
            "\"legend\": $entries}"
    }
}
