package dev.mobilekit.demo

import android.Manifest
import android.content.pm.PackageManager
import android.graphics.Bitmap
import android.net.Uri
import android.os.Bundle
import android.text.SpannableStringBuilder
import android.text.Spanned
import android.text.style.ForegroundColorSpan
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
import dev.mobilekit.core.LegendEntry
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
 * system file picker), an accelerator and a thread count, then run it on camera frames or a photo
 * from the gallery. A classifier shows the top classes with scores; a segmenter (a file whose task is
 * segmentation) draws its category mask over the image with a legend of the classes present. Both
 * show the inference time.
 */
class MainActivity : AppCompatActivity() {
    // Every interpreter call happens on this one thread (the GPU delegate requires it); camera
    // frames are analysed on it too, so a frame never races a model change.
    private val inferenceExecutor = Executors.newSingleThreadExecutor()
    private val inference = inferenceExecutor.asCoroutineDispatcher()
    private var model: ImageModel? = null

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

    /** Whether camera frames are being analysed (a frame still in flight after a photo was picked is dropped). */
    private var cameraRunning = false

    /** What the model was opened for: each spinner reports a selection on its first layout. */
    private data class Selection(val model: String, val accelerator: Accelerator, val threads: Int)
    private var opened: Selection? = null

    private val requestCamera = registerForActivityResult(ActivityResultContracts.RequestPermission()) { granted ->
        if (granted) startCamera() else results.setText(R.string.camera_permission_denied)
    }
    private val pickImage = registerForActivityResult(ActivityResultContracts.PickVisualMedia()) { uri ->
        uri?.let { analyzePicked(it) }
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
        val reload = onSelected { reloadModel() }
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
        inferenceExecutor.execute { model?.close(); model = null }
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
    private fun reloadModel() {
        val source = modelSpinner.selectedItem as? ModelSource ?: return
        val accelerator = selectedAccelerator
        val threads = selectedThreads
        val selection = Selection(source.name, accelerator, threads)
        if (selection == opened) return
        opened = selection
        acceleratorNote.text = acceleratorNoteFor(accelerator)
        lifecycleScope.launch {
            val outcome = withContext(inference) {
                model?.close()
                model = null
                runCatching {
                    val bytes = source.readBytes(this@MainActivity)
                    val info = ModelInfo.read(bytes)
                    val gpuCache = GpuCache(File(filesDir, GPU_CACHE_FOLDER), ResultsJson.sha256(bytes))
                    try {
                        if (accelerator == Accelerator.NNAPI) Engine.requireNnapiTakesOps(bytes, info.operators)
                        ImageModel.open(bytes, accelerator, threads, info, gpuCache) to null
                    } catch (e: AcceleratorException) {
                        ImageModel.open(bytes, Accelerator.XNNPACK, threads, info) to e.message
                    }
                }.onSuccess { model = it.first }
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

    private fun describe(source: ModelSource, opened: ImageModel): String {
        val labels = opened.info.labels?.size?.toString() ?: getString(R.string.none)
        val normalization = if (opened.hasNormalization) {
            getString(R.string.normalization_values, opened.mean.joinToString(), opened.std.joinToString())
        } else {
            getString(R.string.normalization_none)
        }
        val task = when (opened) {
            is Classifier -> getString(R.string.task_classification)
            is Segmenter -> getString(R.string.task_segmentation, opened.classes)
        }
        return getString(
            R.string.model_summary, source.name, opened.inputSize, opened.inputSize,
            opened.inputType.name.lowercase(), labels, normalization, opened.accelerator.id, task,
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
        cameraRunning = true
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

    /** What one image gave: the bitmap to show (the photo, or the image with its mask drawn) and the result. */
    private sealed interface Analysis {
        val bitmap: Bitmap
    }
    private class Classified(override val bitmap: Bitmap, val classification: Classification) : Analysis
    private class SegmentedImage(override val bitmap: Bitmap, val segmented: Segmented) : Analysis

    /** Run [current] on [image]; for a segmenter, the mask is drawn over a copy of the image. Inference thread. */
    private fun analyzeImage(current: ImageModel, image: Bitmap): Analysis {
        val rgb = Images.toRgbImage(image)
        return when (current) {
            is Classifier -> Classified(image, current.classify(rgb, TOP_K))
            is Segmenter -> current.segment(rgb, Images.squareSide(image)).let { SegmentedImage(Images.withMask(image, it), it) }
        }
    }

    /**
     * Runs on the inference thread; a failure is shown, never thrown (it would end the app). A
     * classifier's results go under the live preview; a segmenter's mask must line up with the frame
     * the model saw, so the analysed frames themselves are shown, with the mask drawn on them.
     */
    private fun analyze(frame: ImageProxy) {
        frame.use {
            val current = model ?: return
            try {
                val upright = Images.orient(it.toBitmap(), Orientation(it.imageInfo.rotationDegrees % 360, false))
                val analysis = analyzeImage(current, upright)
                runOnUiThread {
                    if (!cameraRunning) return@runOnUiThread
                    val segmenting = analysis is SegmentedImage
                    preview.visibility = if (segmenting) View.INVISIBLE else View.VISIBLE
                    photo.visibility = if (segmenting) View.VISIBLE else View.GONE
                    show(analysis)
                }
            } catch (e: Exception) {
                runOnUiThread { results.text = getString(R.string.image_failed, e.message ?: e.toString()) }
            }
        }
    }

    private fun analyzePicked(uri: Uri) {
        cameraRunning = false
        cameraProvider?.unbindAll()
        preview.visibility = View.GONE
        photo.visibility = View.VISIBLE
        lifecycleScope.launch {
            val outcome = withContext(inference) {
                runCatching {
                    val current = model ?: throw IllegalStateException(getString(R.string.no_model_loaded))
                    val bitmap: Bitmap = Images.decode(contentResolver, uri, displaySide(), current.inputSize)
                    analyzeImage(current, bitmap)
                }
            }
            outcome.onSuccess(::show)
                .onFailure { error -> results.text = getString(R.string.image_failed, error.message ?: error.toString()) }
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

    /**
     * Shows [analysis]: a classifier's top classes, a segmenter's legend, and the image (a segmenter's
     * with its mask) where the photo view is showing (not under a classifier's live preview).
     */
    private fun show(analysis: Analysis) {
        if (photo.visibility == View.VISIBLE) photo.setImageBitmap(analysis.bitmap)
        when (analysis) {
            is Classified -> {
                results.text = analysis.classification.top.joinToString("\n") { scored ->
                    getString(R.string.result_line, scored.label ?: "#${scored.index}", scored.score)
                }
                inferenceTime.text = getString(R.string.inference_time, analysis.classification.inferenceMs)
            }
            is SegmentedImage -> {
                results.text = legendText(analysis.segmented.legend)
                inferenceTime.text = getString(R.string.inference_time, analysis.segmented.inferenceMs)
            }
        }
    }

    /**
     * The legend: a square in each class's colour (an outline for the transparent background), its
     * name and its share of the square the model saw, largest first; the first [LEGEND_LINES].
     */
    private fun legendText(legend: List<LegendEntry>): CharSequence {
        val text = SpannableStringBuilder()
        for (entry in legend.take(LEGEND_LINES)) {
            if (text.isNotEmpty()) text.append('\n')
            val swatch = text.length
            text.append(if (entry.background) "\u25A1" else "\u25A0") // □ / ■
            text.setSpan(ForegroundColorSpan(entry.color), swatch, swatch + 1, Spanned.SPAN_EXCLUSIVE_EXCLUSIVE)
            val line = if (entry.background) R.string.legend_background_line else R.string.legend_line
            text.append(' ').append(getString(line, entry.name, entry.share * 100))
        }
        if (legend.size > LEGEND_LINES) text.append('\n').append(getString(R.string.legend_more, legend.size - LEGEND_LINES))
        return text
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
        private const val LEGEND_LINES = 8
        private const val GPU_CACHE_FOLDER = "gpu_cache"
        private val THREAD_CHOICES = listOf(1, 2, 4, 8)
    }
}
