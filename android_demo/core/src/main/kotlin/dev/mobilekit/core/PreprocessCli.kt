package dev.mobilekit.core

import java.io.File

/**
 * Command-line entry for the cross-language test: applies [Preprocess] to a raw RGB file and
 * writes the tensor's raw bytes (uint8/int8) or little-endian float32 values.
 *
 *     PreprocessCli IN.rgb WIDTH HEIGHT SIZE MEAN STD SCALE ZERO_POINT uint8|int8|float32 OUT
 *
 * MEAN and STD are comma-separated (1 or 3 values).
 */
object PreprocessCli {
    @JvmStatic
    fun main(args: Array<String>) {
        if (args.size != 10) {
            System.err.println("usage: PreprocessCli IN.rgb WIDTH HEIGHT SIZE MEAN STD SCALE ZERO_POINT uint8|int8|float32 OUT")
            kotlin.system.exitProcess(2)
        }
        val image = RgbImage(args[1].toInt(), args[2].toInt(), File(args[0]).readBytes())
        val size = args[3].toInt()
        val mean = args[4].split(",").map { it.toFloat() }.toFloatArray()
        val std = args[5].split(",").map { it.toFloat() }.toFloatArray()
        val out = when (args[8]) {
            "uint8", "int8" -> Preprocess.prepareQuantized(
                image, size, mean, std, args[6].toFloat(), args[7].toInt(),
                if (args[8] == "uint8") QuantType.UINT8 else QuantType.INT8,
            )
            "float32" -> {
                val values = Preprocess.prepareFloat(image, size, mean, std)
                val buffer = java.nio.ByteBuffer.allocate(values.size * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                values.forEach { buffer.putFloat(it) }
                buffer.array()
            }
            else -> error("unknown type ${args[8]}: use uint8, int8 or float32")
        }
        File(args[9]).writeBytes(out)
    }
}
