package dev.mobilekit.demo

import android.os.Bundle
import android.util.Log
import android.view.WindowManager
import android.widget.TextView
import androidx.activity.enableEdgeToEdge
import androidx.appcompat.app.AppCompatActivity
import androidx.lifecycle.lifecycleScope
import dev.mobilekit.core.BenchmarkRequest
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import java.io.File
import java.io.IOException
import java.util.concurrent.Executors

/**
 * Benchmark mode: started by adb with intent extras (see [BenchmarkRequest] and android_demo/README.md),
 * runs one model on one accelerator without any UI interaction, writes `<app folder>/bench/<output>`
 * (or `<output>.error` when the run cannot start) and finishes.
 */
class BenchmarkActivity : AppCompatActivity() {
    // One thread creates, runs and closes the interpreter: the GPU delegate requires it.
    private val worker = Executors.newSingleThreadExecutor()

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        setContentView(R.layout.activity_benchmark)
        padForSystemBars(findViewById(R.id.benchmark_root))
        window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        val status = findViewById<TextView>(R.id.benchmark_status)
        val appFolder = ModelSource.appFolder(this)
        val resultsFolder = File(appFolder, RESULTS_FOLDER)

        val request = try {
            val extras = intent.extras
            @Suppress("DEPRECATION") // Bundle.get(key): the untyped read lets a mistyped extra be named
            BenchmarkRequest.parse({ key -> extras?.get(key) }, appFolder)
        } catch (e: IllegalArgumentException) {
            val output = intent.getStringExtra(BenchmarkRequest.EXTRA_OUTPUT)?.takeIf { '/' !in it } ?: "benchmark.json"
            fail(File(resultsFolder, output), e.message ?: e.toString(), status)
            return
        }
        status.text = getString(R.string.benchmark_running, request.model.name, request.accelerator.id, request.threads)

        lifecycleScope.launch {
            val target = File(resultsFolder, request.output)
            try {
                val json = withContext(worker.asCoroutineDispatcher()) {
                    Benchmark.run(request, DeviceInfo.current()) { Log.i(TAG, it) }
                }
                writeAtomically(target, json)
                status.text = getString(R.string.benchmark_done, target.path)
                Log.i(TAG, "wrote $target")
                finish()
            } catch (e: IOException) {
                fail(target, "could not read or write: ${e.message}", status)
            }
        }
    }

    private fun fail(target: File, message: String, status: TextView) {
        Log.e(TAG, message)
        status.text = getString(R.string.benchmark_failed, message)
        try {
            writeAtomically(File(target.path + ".error"), message + "\n")
        } catch (e: IOException) {
            Log.e(TAG, "could not write the error file: ${e.message}")
        }
        finish()
    }

    override fun onDestroy() {
        worker.shutdown()
        super.onDestroy()
    }

    companion object {
        private const val TAG = "mobilekit-bench"
        const val RESULTS_FOLDER = "bench"
    }
}
