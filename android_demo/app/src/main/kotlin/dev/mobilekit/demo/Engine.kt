package dev.mobilekit.demo

import android.os.Build
import dev.mobilekit.core.Accelerator
import dev.mobilekit.core.Delegation
import java.io.Closeable
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.nnapi.NnApiDelegate

/** An accelerator that cannot run on this phone or refused the model; [message] says why. */
class AcceleratorException(message: String, cause: Throwable? = null) : Exception(message, cause)

/**
 * Where the GPU delegate keeps the kernels it compiled for a model ([token]: one per model file), so
 * that opening the model again skips the compilation. The benchmark passes none: its init time is
 * the first, cold one.
 */
data class GpuCache(val folder: File, val token: String)

/**
 * A LiteRT interpreter for one model on one accelerator, with the delegate it owns.
 *
 * Create, use and close it on one thread: the GPU delegate must run on the thread that made it.
 */
class Engine private constructor(
    val interpreter: Interpreter,
    private val delegate: Delegate?,
    // The interpreter reads the model from this buffer for as long as it lives.
    @Suppress("unused") private val model: ByteBuffer,
    val accelerator: Accelerator,
) : Closeable {

    override fun close() {
        interpreter.close()
        closeDelegate(delegate)
    }

    companion object {
        /** NNAPI's delegate needs Android 8.1; before that the app says so instead of crashing. */
        private const val NNAPI_MIN_SDK = 27

        /**
         * An interpreter for [modelBytes] on [accelerator] with [threads] CPU threads. The interpreter
         * applies its delegates and allocates its tensors when it is built, so a delegate that
         * refuses the model fails here.
         *
         * @throws AcceleratorException when the accelerator is missing or refuses the model.
         * @throws IllegalArgumentException when the bytes are not a model LiteRT can run.
         */
        fun create(modelBytes: ByteArray, accelerator: Accelerator, threads: Int, gpuCache: GpuCache? = null): Engine =
            // XNNPACK stays on for GPU and NNAPI: it runs the ops those delegates leave to the CPU.
            build(modelBytes, accelerator, threads, useXnnpack = accelerator != Accelerator.CPU, gpuCache)

        /**
         * Throws [AcceleratorException] unless the NNAPI delegate takes part of the model: on a phone
         * whose only NNAPI device is the CPU reference it accepts the model and takes nothing. Judged
         * on a probe interpreter with NNAPI alone (no XNNPACK, which would shorten the plan too).
         */
        fun requireNnapiTakesOps(modelBytes: ByteArray, operators: Int) {
            val planLength = build(modelBytes, Accelerator.NNAPI, threads = 1, useXnnpack = false, gpuCache = null)
                .use { executionPlanLength(it.interpreter) }
            Delegation.notDelegated(Accelerator.NNAPI, operators, planLength)?.let { throw AcceleratorException(it) }
        }

        private fun build(
            modelBytes: ByteArray, accelerator: Accelerator, threads: Int, useXnnpack: Boolean, gpuCache: GpuCache?,
        ): Engine {
            require(threads >= 1) { "threads must be at least 1, got $threads" }
            val model = ByteBuffer.allocateDirect(modelBytes.size).order(ByteOrder.nativeOrder())
            model.put(modelBytes).rewind()
            val options = Interpreter.Options().setNumThreads(threads).setUseXNNPACK(useXnnpack)
            val delegate: Delegate? = when (accelerator) {
                Accelerator.XNNPACK, Accelerator.CPU -> null
                Accelerator.GPU -> gpuDelegate(gpuCache)
                Accelerator.NNAPI -> nnapiDelegate()
            }
            delegate?.let { options.addDelegate(it) }
            try {
                return Engine(Interpreter(model, options), delegate, model, accelerator)
            } catch (e: RuntimeException) {
                closeDelegate(delegate)
                if (delegate != null) {
                    throw AcceleratorException("the ${accelerator.id} delegate refused the model: ${e.message}", e)
                }
                throw IllegalArgumentException("LiteRT cannot run this model: ${e.message}", e)
            }
        }

        /**
         * Nodes in the interpreter's execution plan. LiteRT's Java API keeps this package-private
         * (`InterpreterImpl.getExecutionPlanLength`, for its own tests); null when it cannot be read.
         */
        private fun executionPlanLength(interpreter: Interpreter): Int? =
            generateSequence<Class<*>>(interpreter.javaClass) { it.superclass }
                .firstNotNullOfOrNull { type -> runCatching { type.getDeclaredMethod("getExecutionPlanLength") }.getOrNull() }
                ?.let { method -> runCatching { method.isAccessible = true; method.invoke(interpreter) as Int }.getOrNull() }

        private fun closeDelegate(delegate: Delegate?) {
            when (delegate) {
                is GpuDelegate -> delegate.close()
                is NnApiDelegate -> delegate.close()
                else -> Unit
            }
        }

        private fun gpuDelegate(cache: GpuCache?): GpuDelegate {
            // A missing native library or class surfaces as a LinkageError (UnsatisfiedLinkError,
            // NoClassDefFoundError) from either constructor: an unavailable accelerator, not a crash.
            val compatibility = try {
                CompatibilityList()
            } catch (e: LinkageError) {
                throw AcceleratorException("the GPU delegate's native library is missing: ${e.message}", e)
            }
            try {
                if (!compatibility.isDelegateSupportedOnThisDevice) {
                    throw AcceleratorException("this phone's GPU is not on LiteRT's GPU compatibility list")
                }
                val options = compatibility.bestOptionsForThisDevice
                cache?.let {
                    it.folder.mkdirs()
                    options.setSerializationParams(it.folder.path, it.token)
                }
                return GpuDelegate(options)
            } catch (e: AcceleratorException) {
                throw e
            } catch (e: Exception) {
                throw AcceleratorException("the GPU delegate could not start: ${e.message}", e)
            } catch (e: LinkageError) {
                throw AcceleratorException("the GPU delegate's native library is missing: ${e.message}", e)
            } finally {
                compatibility.close()
            }
        }

        private fun nnapiDelegate(): NnApiDelegate {
            if (Build.VERSION.SDK_INT < NNAPI_MIN_SDK) {
                throw AcceleratorException("NNAPI needs Android 8.1 (API 27); this phone runs API ${Build.VERSION.SDK_INT}")
            }
            try {
                // Not nnapi-reference: NNAPI's own CPU implementation is no accelerator, and slower than XNNPACK.
                return NnApiDelegate(NnApiDelegate.Options().setUseNnapiCpu(false))
            } catch (e: Exception) {
                throw AcceleratorException("the NNAPI delegate could not start: ${e.message}", e)
            } catch (e: LinkageError) {
                throw AcceleratorException("NNAPI is not available on this phone: ${e.message}", e)
            }
        }
    }
}
