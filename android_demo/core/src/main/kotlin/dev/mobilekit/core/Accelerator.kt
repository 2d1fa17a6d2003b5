package dev.mobilekit.core

/**
 * Where the app's interpreter runs a model. [id] is the `delegate` name of a mobilekit.bench/1 result
 * and the value of the benchmark's `accelerator` extra.
 */
enum class Accelerator(val id: String) {
    /** The CPU with the XNNPACK delegate: LiteRT's fast CPU path. */
    XNNPACK("xnnpack"),

    /** The CPU with the interpreter's built-in kernels only (XNNPACK off): the reference to compare with. */
    CPU("cpu"),

    /** The GPU delegate (OpenCL, else OpenGL ES); ops it cannot run stay on the CPU. */
    GPU("gpu"),

    /** The NNAPI delegate: the vendor's drivers (NPU, DSP, GPU). Deprecated from Android 15. */
    NNAPI("nnapi");

    companion object {
        fun fromId(id: String): Accelerator? = entries.firstOrNull { it.id == id }

        val ids: List<String> get() = entries.map { it.id }
    }
}
