package dev.mobilekit.demo

import android.Manifest
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.net.Uri
import android.os.Bundle
import android.view.View
import android.widget.AdapterView
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.ImageView
import android.widget.Spinner
import android.widget.TextView
import androidx.activity.enableEdgeToEdge
import androidx.activity.result.PickVisualMediaRequest
import androidx.activity.result.contract.ActivityResultContracts
import androidx.appcompat.app.AppCompatActivity
import androidx.camera.core.CameraSelector
import androidx.camera.core.ImageAnalysis
import androidx.camera.core.ImageProxy
import androidx.camera.core.Preview
import androidx.camera.lifecycle.ProcessCameraProvider
import androidx.camera.view.PreviewView
import androidx.core.content.ContextCompat
import androidx.lifecycle.lifecycleScope
import dev.mobilekit.core.Accelerator
import dev.mobilekit.core.ModelInfo
import dev.mobilekit.core.Orientation
import dev.mobilekit.core.ResultsJson
import java.io.File
import java.io.IOException
import java.util.concurrent.Executors
import kotlin.math.max
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/**
 * The interactive demo: pick a model (bundled, pushed to the models folder, or opened with the
 * system file picker), an accelerator and a thread count, then classify camera frames or a photo
 * from the gallery; shows the top classes with scores and the inference time.
 */
class MainActivity : AppCompatActivity() {
    // Every interpreter call happens on this one thread (the GPU delegate requires it); camera
    // frames are analysed on it too, so a frame never races a model change.
    private val inferenceExecutor = Executors.newSingleThreadExecutor()
    private val inference = inferenceExecutor.asCoroutineDispatcher()
    private var classifier: Classifier? = null

    private lateinit var preview: PreviewView
    private lateinit var photo: ImageView
    private lateinit var modelSpinner: Spinner
    private lateinit var acceleratorSpinner: Spinner
    private lateinit var threadsSpinner: Spinner
    private lateinit var acceleratorNote: TextView
    private lateinit var modelInfo: TextView
    private lateinit var results: TextView
    private lateinit var inferenceTime: TextView

    private var models: List<ModelSource> = emptyList()
    private var cameraProvider: ProcessCameraProvider? = null

    /** What the classifier was opened for: each spinner reports a selection on its first layout. */
    private data class Selection(val model: String, val accelerator: Accelerator, val threads: Int)
    private var opened: Selection? = null

    private val requestCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera() else results.setText(R.string.camera_permission_denied)
    }
    private val pickImage = registerForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri ->
        uri?.let { classifyPicked(it) }
    }
    private val openModel = registerForActivityResult(ActivityResultContracts.OpenDocument()) { uri ->
        uri?.let { importModel(it) }
    }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        setContentView(R.layout.activity_main)
        padForSystemBars(findViewById(R.id.main_root))
        preview = findViewById(R.id.preview)
        photo = findViewById(R.id.photo)
        modelSpinner = findViewById(R.id.model_spinner)
        acceleratorSpinner = findViewById(R.id.accelerator_spinner)
        threadsSpinner = findViewById(R.id.threads_spinner)
        acceleratorNote = findViewById(R.id.accelerator_note)
        modelInfo = findViewById(R.id.model_info)
        results = findViewById(R.id.results)
        inferenceTime = findViewById(R.id.inference_time)

        acceleratorSpinner.adapter = spinnerAdapter(Accelerator.entries.map { getString(labelOf(it)) })
        threadsSpinner.adapter = spinnerAdapter(THREAD_CHOICES.map { it.toString() })
        val reload = onSelected { reloadClassifier() }
        modelSpinner.onItemSelectedListener = reload
        acceleratorSpinner.onItemSelectedListener = reload
        threadsSpinner.onItemSelectedListener = reload

        findViewById<Button>(R.id.open_model).setOnClickListener {
            openModel.launch(arrayOf("application/octet-stream", "*/*"))
        }
        findViewById<Button>(R.id.use_camera).setOnClickListener { useCamera() }
        findViewById<Button>(R.id.pick_image).setOnClickListener {
            pickImage.launch(PickVisualMediaRequest(ActivityResultContracts.PickVisualMedia.ImageOnly))
        }
        refreshModels(selectName = null)
    }

    override fun onResume() {
        super.onResume()
        // Models pushed with adb while the app was in the background show up on return.
        val selected = (modelSpinner.selectedItem as? ModelSource)?.name
        val available = ModelSource.available(this)
        if (available.map { it.name } != models.map { it.name }) refreshModels(selected, available)
    }

    override fun onDestroy() {
        cameraProvider?.unbindAll()
        inferenceExecutor.execute { classifier?.close(); classifier = null }
        inferenceExecutor.shutdown()
        super.onDestroy()
    }

    private fun refreshModels(selectName: String?, available: List<ModelSource> = ModelSource.available(this)) {
        models = available
        modelSpinner.adapter = spinnerAdapter(models)
        if (models.isEmpty()) {
            modelInfo.text = getString(R.string.no_models, ModelSource.modelsFolder(this).path)
            results.setText(R.string.no_model_loaded)
            return
        }
        val index = models.indexOfFirst { it.name == selectName }
        if (index >= 0) modelSpinner.setSelection(index)
    }

    private val selectedAccelerator: Accelerator
        get() = Accelerator.entries[acceleratorSpinner.selectedItemPosition.coerceAtLeast(0)]

    private val selectedThreads: Int
        get() = THREAD_CHOICES[threadsSpinner.selectedItemPosition.coerceAtLeast(0)]

    /**
     * Open the selected model on the selected accelerator, unless it is open already. When GPU or
     * NNAPI cannot run it, or NNAPI would take none of it, say why and fall back to the CPU with
     * XNNPACK, as the README describes.
     */
    private fun reloadClassifier() {
        val source = modelSpinner.selectedItem as? ModelSource ?: return
        val accelerator = selectedAccelerator
        val threads = selectedThreads
        val selection = Selection(source.name, accelerator, threads)
        if (selection == opened) return
        opened = selection
        acceleratorNote.text = acceleratorNoteFor(accelerator)
        lifecycleScope.launch {
            val outcome = withContext(inference) {
                classifier?.close()
                classifier = null
                runCatching {
                    val bytes = source.readBytes(this@MainActivity)
                    val info = ModelInfo.read(bytes)
                    val gpuCache = GpuCache(File(filesDir, GPU_CACHE_FOLDER), ResultsJson.sha256(bytes))
                    try {
                        if (accelerator == Accelerator.NNAPI) Engine.requireNnapiTakesOps(bytes, info.operators)
                        Classifier.open(bytes, accelerator, threads, info, gpuCache) to null
                    } catch (e: AcceleratorException) {
                        Classifier.open(bytes, Accelerator.XNNPACK, threads, info) to e.message
                    }
                }.onSuccess { classifier = it.first }
            }
            outcome.onSuccess { (opened, fallbackReason) ->
                if (fallbackReason != null) {
                    acceleratorNote.text = getString(R.string.accelerator_fallback, accelerator.id, fallbackReason)
                }
                modelInfo.text = describe(source, opened)
                results.setText(R.string.results_waiting)
            }.onFailure { error ->
                opened = null // the same selection may be tried again
                modelInfo.text = getString(R.string.model_failed, source.name, error.message ?: error.toString())
            }
        }
    }

    private fun labelOf(accelerator: Accelerator): Int = when (accelerator) {
        Accelerator.XNNPACK -> R.string.accelerator_xnnpack
        Accelerator.CPU -> R.string.accelerator_cpu
        Accelerator.GPU -> R.string.accelerator_gpu
        Accelerator.NNAPI -> R.string.accelerator_nnapi
    }

    private fun acceleratorNoteFor(accelerator: Accelerator): String = when (accelerator) {
        Accelerator.XNNPACK -> getString(R.string.note_xnnpack)
        Accelerator.CPU -> getString(R.string.note_cpu)
        Accelerator.GPU -> getString(R.string.note_gpu)
        Accelerator.NNAPI -> getString(
            if (DeviceInfo.nnapiDeprecated) R.string.note_nnapi_deprecated else R.string.note_nnapi,
        )
    }

    private fun describe(source: ModelSource, opened: Classifier): String {
        val labels = opened.info.labels?.size?.toString() ?: getString(R.string.none)
        val normalization = if (opened.hasNormalization) {
            getString(R.string.normalization_values, opened.mean.joinToString(), opened.std.joinToString())
        } else {
            getString(R.string.normalization_none)
        }
        return getString(
            R.string.model_summary, source.name, opened.inputSize, opened.inputSize,
            opened.inputType.name.lowercase(), labels, normalization, opened.accelerator.id,
        )
    }

    private fun useCamera() {
        if (ContextCompat.checkSelfPermission(this, Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startCamera()
        } else {
            requestCamera.launch(Manifest.permission.CAMERA)
        }
    }

    private fun startCamera() {
        photo.visibility = View.GONE
        preview.visibility = View.VISIBLE
        val future = ProcessCameraProvider.getInstance(this)
        future.addListener({
            // No camera (the manifest makes it optional), or one CameraX cannot open: say so.
            try {
                val provider = future.get()
                cameraProvider = provider
                val selector = when {
                    provider.hasCamera(CameraSelector.DEFAULT_BACK_CAMERA) -> CameraSelector.DEFAULT_BACK_CAMERA
                    provider.hasCamera(CameraSelector.DEFAULT_FRONT_CAMERA) -> CameraSelector.DEFAULT_FRONT_CAMERA
                    else -> throw IllegalStateException(getString(R.string.no_camera))
                }
                val previewUseCase = Preview.Builder().build()
                previewUseCase.setSurfaceProvider(preview.surfaceProvider)
                val analysis = ImageAnalysis.Builder()
                    .setBackpressureStrategy(ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST)
                    .setOutputImageFormat(ImageAnalysis.OUTPUT_IMAGE_FORMAT_RGBA_8888)
                    .build()
                analysis.setAnalyzer(inferenceExecutor) { frame -> analyze(frame) }
                provider.unbindAll()
                provider.bindToLifecycle(this, selector, previewUseCase, analysis)
            } catch (e: Exception) {
                results.text = getString(R.string.camera_failed, e.message ?: e.toString())
            }
        }, ContextCompat.getMainExecutor(this))
    }

    /** Runs on the inference thread; a failure is shown, never thrown (it would end the app). */
    private fun analyze(frame: ImageProxy) {
        frame.use {
            val current = classifier ?: return
            try {
                val upright = Images.orient(it.toBitmap(), Orientation(it.imageInfo.rotationDegrees % 360, false))
                val classification = current.classify(Images.toRgbImage(upright), TOP_K)
                runOnUiThread { show(classification) }
            } catch (e: Exception) {
                runOnUiThread { results.text = getString(R.string.image_failed, e.message ?: e.toString()) }
            }
        }
    }

    private fun classifyPicked(uri: Uri) {
        cameraProvider?.unbindAll()
        preview.visibility = View.GONE
        photo.visibility = View.VISIBLE
        lifecycleScope.launch {
            val outcome = withContext(inference) {
                runCatching {
                    val current = classifier ?: throw IllegalStateException(getString(R.string.no_model_loaded))
                    val bitmap: Bitmap = Images.decode(contentResolver, uri, displaySide(), current.inputSize)
                    bitmap to current.classify(Images.toRgbImage(bitmap), TOP_K)
                }
            }
            outcome.onSuccess { (bitmap, classification) ->
                photo.setImageBitmap(bitmap)
                show(classification)
            }.onFailure { error -> results.text = getString(R.string.image_failed, error.message ?: error.toString()) }
        }
    }

    private fun importModel(uri: Uri) {
        lifecycleScope.launch {
            val outcome = withContext(inference) { runCatching { ModelSource.importPicked(this@MainActivity, uri) } }
            outcome.onSuccess { refreshModels(it.name) }
                .onFailure { error ->
                    val reason = if (error is IOException) error.message else error.toString()
                    modelInfo.text = getString(R.string.model_import_failed, reason)
                }
        }
    }

    private fun show(classification: Classification) {
        results.text = classification.top.joinToString("\n") { scored ->
            getString(R.string.result_line, scored.label ?: "#${scored.index}", scored.score)
        }
        inferenceTime.text = getString(R.string.inference_time, classification.inferenceMs)
    }

    /** The screen's longer side in pixels: a photo is never decoded larger than this shows. */
    private fun displaySide(): Int = resources.displayMetrics.let { max(it.widthPixels, it.heightPixels) }

    private fun <T> spinnerAdapter(items: List<T>) =
        ArrayAdapter(this, android.R.layout.simple_spinner_item, items).also {
            it.setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item)
        }

    private fun onSelected(action: () -> Unit) = object : AdapterView.OnItemSelectedListener {
        override fun onItemSelected(parent: AdapterView<*>?, view: View?, position: Int, id: Long) = action()
        override fun onNothingSelected(parent: AdapterView<*>?) = Unit
    }

    companion object {
        private const val TOP_K = 5
        private const val GPU_CACHE_FOLDER = "gpu_cache"
        private val THREAD_CHOICES = listOf(1, 2, 4, 8)
    }
}
