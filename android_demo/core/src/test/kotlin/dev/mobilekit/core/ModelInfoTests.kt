package dev.mobilekit.core

import java.io.ByteArrayOutputStream
import java.util.zip.ZipEntry
import java.util.zip.ZipOutputStream
import kotlin.random.Random

// Small .tflite files built field by field (slot order as in schema.fbs / metadata_schema.fbs);
// real converter output is compared with Python in tests/test_android_core.py.

private fun tensor(name: String, shape: List<Int>, type: TensorType, scale: Float? = null, zeroPoint: Long = 0) =
    FbTable(
        fbInts(shape), FbByte(type.code), FbInt(0), FbString(name),
        scale?.let { FbTable(null, null, fbFloats(listOf(it)), FbVector(listOf(FbLong(zeroPoint)))) },
    )

private val scoresOutput = tensor("scores", listOf(1, 2), TensorType.FLOAT32)

/**
 * A model whose subgraph 0 has a uint8 image input and [outputs] (one float32 score vector by default);
 * [metadata] in buffer 1, or, with [externalAt], stored outside the flatbuffer at that offset (as in
 * models over 2 GB).
 */
private fun model(
    metadata: ByteArray? = null, metadataBuffer: Int = 1, externalAt: Long? = null, outputs: List<FbTable> = listOf(scoresOutput),
): ByteArray {
    val graph = FbTable(
        FbVector(listOf(tensor("image", listOf(1, 4, 4, 3), TensorType.UINT8, 0.5f, -3)) + outputs),
        fbInts(listOf(0)), fbInts(List(outputs.size) { it + 1 }),
    )
    val buffers = listOfNotNull(
        FbTable(),
        metadata?.let { if (externalAt == null) FbTable(fbBytes(it)) else FbTable(null, FbLong(externalAt), FbLong(it.size.toLong())) },
    )
    val entries = if (metadata == null) null else FbVector(listOf(FbTable(FbString(ModelInfo.METADATA_NAME), FbInt(metadataBuffer))))
    return flatBuffer(FbTable(FbInt(3), null, FbVector(listOf(graph)), FbString("test"), FbVector(buffers), null, entries), "TFL3")
}

/** ModelMetadata of an image classifier: NormalizationOptions, RGB ImageProperties, a labels file. */
private fun metadata(labelsFile: String = "labels.txt", identifier: String = "M001"): ByteArray {
    val image = FbTable(
        FbString("image"), null, null,
        FbTable(FbByte(2), FbTable(FbByte(1))), // content: ImageProperties, color_space RGB
        FbVector(listOf(FbTable(FbByte(1), FbTable(fbFloats(listOf(127.5f)), fbFloats(listOf(127.5f)))))),
    )
    val labels = FbTable(FbString(labelsFile), FbString("Labels."), FbByte(2))
    val scores = FbTable(FbString("probability"), null, null, null, null, null, FbVector(listOf(labels)))
    val graph = FbTable(null, null, FbVector(listOf(image)), FbVector(listOf(scores)))
    return flatBuffer(
        FbTable(FbString("tiny"), FbString("A test model."), FbString("2"), FbVector(listOf(graph)), null, null, null, FbString("1.0.0")),
        identifier,
    )
}

/** MediaPipe's ImageSegmenterOptions: activation (a byte; absent when null), min_parser_version. */
internal fun segmenterOptions(activation: Int?, minParserVersion: String? = "1.0.0"): ByteArray =
    flatBuffer(FbTable(activation?.let(::FbByte), minParserVersion?.let(::FbString)), "V001")

/**
 * ModelMetadata of a segmenter as mobilekit writes it: the image input, an output with GRAYSCALE
 * ImageProperties and a labels file, and [custom] as subgraph 0's custom_metadata (name to data).
 */
private fun segmenterMetadata(custom: List<Pair<String, ByteArray>>): ByteArray {
    val image = FbTable(FbString("image"), null, null, FbTable(FbByte(2), FbTable(FbByte(1))))
    val labels = FbTable(FbString("labels.txt"), FbString("Class names."), FbByte(2))
    val mask = FbTable(
        FbString("segmentation_masks"), null, null, FbTable(FbByte(2), FbTable(FbByte(2))), // GRAYSCALE
        null, null, FbVector(listOf(labels)),
    )
    val entries = custom.map { (name, data) -> FbTable(FbString(name), fbBytes(data)) }
    val graph = FbTable(
        null, null, FbVector(listOf(image)), FbVector(listOf(mask)), null, null, null, null, null,
        FbVector(entries), // slot 9: custom_metadata
    )
    return flatBuffer(FbTable(FbString("lraspp"), null, null, FbVector(listOf(graph)), null, null, null, FbString("1.5.0")), "M001")
}

private val maskOutput = tensor("segmentation_masks", listOf(1, 12, 12, 3), TensorType.UINT8, 1f / 256, 0)

internal val segmenterFile = model(
    segmenterMetadata(listOf(ModelInfo.SEGMENTER_METADATA to segmenterOptions(Activation.SOFTMAX.code))),
    outputs = listOf(maskOutput),
) + zip(mapOf("labels.txt" to "background\ncat\ndog\n"))

/** A ZIP of [files] (deflated), as `cat model.tflite files.zip` would append it. */
private fun zip(files: Map<String, String>): ByteArray {
    val out = ByteArrayOutputStream()
    ZipOutputStream(out).use { z -> files.forEach { (name, text) -> z.putNextEntry(ZipEntry(name)); z.write(text.toByteArray()) } }
    return out.toByteArray()
}

private val classifier = model(metadata()) + zip(mapOf("labels.txt" to "cat\ndog\n"))

private fun checkReadFails(bytes: ByteArray, needle: String) {
    try {
        ModelInfo.read(bytes)
    } catch (e: IllegalArgumentException) {
        check(needle in e.message.orEmpty()) { "expected '$needle' in the message, got '${e.message}'" }
        return
    }
    throw CheckFailed("expected IllegalArgumentException containing '$needle', the file was read")
}

fun modelInfoTests(t: TestRunner) {
    t.test("model info: tensors, metadata, labels") {
        val info = ModelInfo.read(classifier)
        checkEqual(listOf(TensorInfo("image", listOf(1, 4, 4, 3), TensorType.UINT8, 0.5f, -3)), info.inputs, "inputs")
        checkEqual(listOf(TensorInfo("scores", listOf(1, 2), TensorType.FLOAT32, null, null)), info.outputs, "outputs")
        val m = info.metadata ?: throw CheckFailed("no metadata")
        checkEqual(listOf("tiny", "A test model.", "2", "1.0.0"), listOf(m.name, m.description, m.version, m.minParserVersion), "model fields")
        checkEqual(listOf(127.5f), info.mean, "mean")
        checkEqual(listOf(127.5f), info.std, "std")
        checkEqual("RGB", m.inputs.single().colorSpace, "color space")
        checkEqual(listOf(AssociatedFile("labels.txt", "TENSOR_AXIS_LABELS", "Labels.", null)), m.outputs.single().associatedFiles, "files")
        checkEqual(listOf("cat", "dog"), info.labels, "labels")
        checkEqual(setOf("labels.txt"), info.associatedFiles.keys, "packed files")
    }
    t.test("model info: a segmenter's custom metadata, activation, labels and task") {
        val info = ModelInfo.read(segmenterFile)
        val m = info.metadata ?: throw CheckFailed("no metadata")
        checkEqual(Task.SEGMENTATION, info.task, "task")
        checkEqual(SegmenterOptions(Activation.SOFTMAX, "1.0.0"), m.segmenter, "segmenter options")
        checkEqual(
            listOf(CustomMetadata(ModelInfo.SEGMENTER_METADATA, segmenterOptions(Activation.SOFTMAX.code))),
            m.customMetadata, "custom metadata",
        )
        checkEqual("GRAYSCALE", m.outputs.single().colorSpace, "mask colour space")
        checkEqual(listOf("background", "cat", "dog"), info.labels, "labels")
        checkEqual(listOf(1, 12, 12, 3), info.outputs.single().shape, "mask shape")
    }
    t.test("model info: the task rule") {
        fun taskOf(outputs: List<FbTable>, custom: List<Pair<String, ByteArray>>? = null) =
            ModelInfo.read(model(custom?.let(::segmenterMetadata), outputs = outputs) + zip(mapOf("labels.txt" to "a\n"))).task
        val segmenter = listOf(ModelInfo.SEGMENTER_METADATA to segmenterOptions(0))
        fun out(vararg shape: Int) = tensor("out", shape.toList(), TensorType.FLOAT32)
        checkEqual(Task.CLASSIFICATION, taskOf(listOf(out(1, 1000))), "[1, 1000]")
        checkEqual(Task.SEGMENTATION, taskOf(listOf(out(1, 12, 12, 11))), "[1, 12, 12, 11] without metadata")
        checkEqual(Task.SEGMENTATION, taskOf(listOf(out(1, 12, 12, 2)), custom = emptyList()), "no custom metadata")
        checkEqual(Task.UNKNOWN, taskOf(listOf(out(1, 12, 12, 1))), "one channel, no SEGMENTER_METADATA")
        checkEqual(Task.SEGMENTATION, taskOf(listOf(out(1, 12, 12, 1)), segmenter), "one channel with SEGMENTER_METADATA")
        checkEqual(Task.SEGMENTATION, taskOf(listOf(out(1, 5)), segmenter), "SEGMENTER_METADATA decides")
        checkEqual(Task.CLASSIFICATION, taskOf(listOf(out(1, 5)), listOf("OTHER" to ByteArray(3))), "another custom entry")
        checkEqual(Task.UNKNOWN, taskOf(listOf(out(1, 5), out(1, 5))), "two outputs")
        checkEqual(Task.UNKNOWN, taskOf(listOf(out(1, 5, 4))), "rank 3")
        checkEqual(Task.UNKNOWN, taskOf(emptyList()), "no outputs")
        checkEqual(Task.CLASSIFICATION, ModelInfo.read(model()).task, "no metadata at all")
    }
    t.test("model info: SEGMENTER_METADATA is read as MediaPipe reads it") {
        fun options(data: ByteArray) = ModelInfo.read(
            model(segmenterMetadata(listOf(ModelInfo.SEGMENTER_METADATA to data)), outputs = listOf(maskOutput)) +
                zip(mapOf("labels.txt" to "a\nb\nc\n")),
        ).metadata?.segmenter
        checkEqual(SegmenterOptions(Activation.NONE, null), options(segmenterOptions(null, null)), "defaults")
        checkEqual(SegmenterOptions(Activation.SIGMOID, "1.0.0"), options(segmenterOptions(1)), "sigmoid")
        // No identifier check (MediaPipe's GetImageSegmenterOptions reads any root).
        checkEqual(Activation.SOFTMAX, options(flatBuffer(FbTable(FbByte(2)), "XXXX"))?.activation, "identifier")
        checkReadFails(
            model(segmenterMetadata(listOf(ModelInfo.SEGMENTER_METADATA to segmenterOptions(7))), outputs = listOf(maskOutput)) +
                zip(mapOf("labels.txt" to "a\n")),
            "SEGMENTER_METADATA has activation 7",
        )
        checkReadFails(
            model(segmenterMetadata(listOf(ModelInfo.SEGMENTER_METADATA to byteArrayOf(1, 2))), outputs = listOf(maskOutput)) +
                zip(mapOf("labels.txt" to "a\n")),
            "SEGMENTER_METADATA flatbuffer is corrupt",
        )
        // The last entry of that name wins, as MediaPipe's loop over the list leaves it.
        val two = listOf(ModelInfo.SEGMENTER_METADATA to segmenterOptions(1), ModelInfo.SEGMENTER_METADATA to segmenterOptions(2))
        checkEqual(
            Activation.SOFTMAX,
            ModelInfo.read(model(segmenterMetadata(two), outputs = listOf(maskOutput)) + zip(mapOf("labels.txt" to "a\n")))
                .metadata?.segmenter?.activation,
            "last wins",
        )
    }
    t.test("model info: every truncation of a segmenter is a clear error") {
        for (n in 0 until segmenterFile.size) {
            checkThrows<IllegalArgumentException>("first $n bytes") { ModelInfo.read(segmenterFile.copyOf(n)) }
        }
        val random = Random(12)
        repeat(2000) {
            val bytes = segmenterFile.copyOf()
            repeat(1 + random.nextInt(4)) { bytes[random.nextInt(bytes.size)] = random.nextInt(256).toByte() }
            try { ModelInfo.read(bytes) } catch (_: IllegalArgumentException) {}
        }
    }
    t.test("model info: a model without metadata has null metadata, mean, std and labels") {
        val info = ModelInfo.read(model())
        checkEqual(null, info.metadata, "metadata")
        checkEqual(null, info.mean, "mean")
        checkEqual(null, info.labels, "labels")
        checkEqual(0, info.associatedFiles.size, "files")
        checkEqual(TensorType.UINT8, info.inputs.single().type, "input type")
    }
    t.test("model info: not a .tflite file") {
        checkReadFails(ByteArray(0), "not a .tflite file")
        checkReadFails("PK\u0003\u0004 hello, this is a text file".toByteArray(), "not a .tflite file")
        checkReadFails(metadata(), "not a .tflite file") // a flatbuffer, but M001
    }
    t.test("model info: every truncation is a clear error") {
        for (n in 0 until classifier.size) {
            checkThrows<IllegalArgumentException>("first $n bytes") { ModelInfo.read(classifier.copyOf(n)) }
        }
        checkReadFails(classifier.copyOf(40), "the model is corrupt")
    }
    t.test("model info: garbage bytes give IllegalArgumentException or a reading, nothing else") {
        val random = Random(11)
        repeat(3000) {
            val bytes = classifier.copyOf()
            repeat(1 + random.nextInt(4)) { bytes[random.nextInt(bytes.size)] = random.nextInt(256).toByte() }
            try { ModelInfo.read(bytes) } catch (_: IllegalArgumentException) {}
        }
        repeat(300) {
            val bytes = random.nextBytes(random.nextInt(8, 400)).also { b -> "TFL3".toByteArray().copyInto(b, 4) }
            try { ModelInfo.read(bytes) } catch (_: IllegalArgumentException) {}
        }
    }
    t.test("model info: metadata errors name what is wrong") {
        checkReadFails(model(metadata(), metadataBuffer = 7), "metadata buffer out of range")
        checkReadFails(model(metadata(identifier = "XXXX")), "not TFLite Metadata")
        checkReadFails(model(metadata(labelsFile = "names.txt")) + zip(mapOf("labels.txt" to "a\n")), "no such file")
    }
    t.test("model info: metadata stored outside the flatbuffer") {
        val flatSize = model(metadata(), externalAt = 0).size.toLong() // offset values do not change the size
        val info = ModelInfo.read(model(metadata(), externalAt = flatSize) + metadata() + zip(mapOf("labels.txt" to "a\n")))
        checkEqual(listOf("a"), info.labels, "labels")
        checkReadFails(model(metadata(), externalAt = flatSize), "past the end of the file")
    }
    t.test("model info: a corrupt ZIP is a clear error") {
        val archive = zip(mapOf("labels.txt" to "cat\ndog\n"))
        val directory = java.nio.ByteBuffer.wrap(archive).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(archive.size - 22 + 16)
        archive[directory + 16] = (archive[directory + 16] + 1).toByte() // the entry's CRC-32
        checkReadFails(model(metadata()) + archive, "fails its CRC-32 check")
    }
}
