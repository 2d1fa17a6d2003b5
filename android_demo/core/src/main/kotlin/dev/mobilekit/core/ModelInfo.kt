package dev.mobilekit.core

/** A tensor's element type: the TFLite schema's `TensorType` enum, by [code]. */
enum class TensorType(val code: Int) {
    FLOAT32(0), FLOAT16(1), INT32(2), UINT8(3), INT64(4), STRING(5), BOOL(6), INT16(7), COMPLEX64(8),
    INT8(9), FLOAT64(10), COMPLEX128(11), UINT64(12), RESOURCE(13), VARIANT(14), UINT32(15), UINT16(16),
    INT4(17), BFLOAT16(18), INT2(19), UINT4(20), FLOAT8_E4M3FN(21), FLOAT8_E5M2(22),

    /** A code newer than this list. */
    UNKNOWN(-1);

    companion object {
        fun of(code: Int): TensorType = entries.firstOrNull { it.code == code } ?: UNKNOWN
    }
}

/**
 * An input or output tensor of the model's first subgraph. [scale] and [zeroPoint] are its
 * per-tensor quantization (`real = scale * (q - zeroPoint)`), null when it has none (float
 * tensors) or is quantized per channel.
 */
data class TensorInfo(
    val name: String,
    val shape: List<Int>,
    val type: TensorType,
    val scale: Float?,
    val zeroPoint: Int?,
)

/** An `AssociatedFile` of the metadata; [type] is the schema's enum name, e.g. TENSOR_AXIS_LABELS. */
data class AssociatedFile(val name: String?, val type: String, val description: String?, val locale: String?)

/**
 * A `CustomMetadata` entry of the subgraph's metadata: a [name] and opaque [data] (for a segmenter,
 * `SEGMENTER_METADATA`: MediaPipe's ImageSegmenterOptions flatbuffer). Compared by content.
 */
class CustomMetadata(val name: String?, val data: ByteArray) {
    override fun equals(other: Any?): Boolean = other is CustomMetadata && other.name == name && other.data.contentEquals(data)
    override fun hashCode(): Int = 31 * (name?.hashCode() ?: 0) + data.contentHashCode()
    override fun toString(): String = "CustomMetadata(name=$name, ${data.size} bytes)"
}

/**
 * A `TensorMetadata`: [mean] and [std] from its NormalizationOptions process unit (the input
 * the app feeds is `(pixel - mean) / std` per channel), [colorSpace] from its ImageProperties.
 */
data class TensorMetadata(
    val name: String?,
    val description: String?,
    val colorSpace: String?,
    val mean: List<Float>?,
    val std: List<Float>?,
    val associatedFiles: List<AssociatedFile>,
)

/** The TFLite Metadata (`ModelMetadata`, identifier M001) of a model; tensors of subgraph 0. */
data class ModelMetadata(
    val name: String?,
    val description: String?,
    val version: String?,
    val author: String?,
    val license: String?,
    val minParserVersion: String?,
    val inputs: List<TensorMetadata>,
    val outputs: List<TensorMetadata>,
    val associatedFiles: List<AssociatedFile>,
    /** Subgraph 0's `custom_metadata`, in file order. */
    val customMetadata: List<CustomMetadata> = emptyList(),
    /** The ImageSegmenterOptions of its `SEGMENTER_METADATA` entry (the last, as MediaPipe's loop leaves it), or null. */
    val segmenter: SegmenterOptions? = null,
) {
    /** The outputs' labels file: the first TENSOR_AXIS_LABELS file without a locale, as MediaPipe picks it. */
    val labelsFile: String?
        get() = outputs.flatMap { it.associatedFiles }
            .firstOrNull { it.type == "TENSOR_AXIS_LABELS" && !it.name.isNullOrEmpty() && it.locale.isNullOrEmpty() }
            ?.name
}

/**
 * What an app needs to know about a .tflite file, read from its bytes without TFLite: the
 * inputs and outputs of subgraph 0, the TFLite Metadata ([metadata] null when the file has none),
 * the files packed in the ZIP appended to it, and the class [labels] from the metadata's labels
 * file (null without one). [associatedFiles] holds byte arrays, so compare it by content.
 */
data class ModelInfo(
    val inputs: List<TensorInfo>,
    val outputs: List<TensorInfo>,
    val metadata: ModelMetadata?,
    val labels: List<String>?,
    val associatedFiles: Map<String, ByteArray>,
    /** Ops of subgraph 0, what the interpreter's execution plan holds before any delegate. */
    val operators: Int,
) {
    /** The first input's normalization mean from the metadata, or null. */
    val mean: List<Float>? get() = metadata?.inputs?.firstOrNull()?.mean

    /** The first input's normalization std from the metadata, or null. */
    val std: List<Float>? get() = metadata?.inputs?.firstOrNull()?.std

    /**
     * What the file does, by issue 18's rule (meant for mobilekit's Python reader too): [Task.SEGMENTATION] when
     * subgraph 0's metadata has a `SEGMENTER_METADATA` custom metadata entry, or, without one, when
     * the only output has rank 4 ([1, height, width, classes]) with more than one class;
     * [Task.CLASSIFICATION] when the only output has rank 2 ([1, classes]); [Task.UNKNOWN] otherwise.
     */
    val task: Task
        get() {
            val single = outputs.singleOrNull()?.shape
            return when {
                metadata?.customMetadata?.any { it.name == SEGMENTER_METADATA } == true -> Task.SEGMENTATION
                single != null && single.size == 4 && single[3] > 1 -> Task.SEGMENTATION
                single != null && single.size == 2 -> Task.CLASSIFICATION
                else -> Task.UNKNOWN
            }
        }

    companion object {
        const val METADATA_NAME = "TFLITE_METADATA"

        /** The name of the custom metadata entry that holds MediaPipe's ImageSegmenterOptions. */
        const val SEGMENTER_METADATA = "SEGMENTER_METADATA"

        /**
         * Reads [bytes] of a .tflite file. Throws IllegalArgumentException saying what is wrong
         * for anything else: not a TFLite flatbuffer, a corrupt or truncated one, metadata that
         * is not TFLite Metadata, a labels file the metadata names but the file does not carry.
         */
        fun read(bytes: ByteArray): ModelInfo {
            val fb = FlatBuffer(bytes, "the model")
            if (fb.identifier() != "TFL3") {
                throw IllegalArgumentException("not a .tflite file (no TFL3 identifier at bytes 4..7)")
            }
            val model = fb.root()
            val graph = model.tables(2 /* subgraphs */)?.firstOrNull()
                ?: throw IllegalArgumentException("the model has no subgraph")
            val tensors = graph.tables(0 /* tensors */).orEmpty()
            fun io(slot: Int) = graph.ints(slot).orEmpty().map {
                if (it !in tensors.indices) fb.corrupt("subgraph 0 names tensor $it of ${tensors.size}")
                tensorInfo(fb, tensors[it])
            }
            val metadata = metadataBuffer(bytes, model)?.let(::parseMetadata)
            val files = AppendedZip.files(bytes)
            val labels = metadata?.labelsFile?.let { name ->
                val data = files[name] ?: throw IllegalArgumentException(
                    "the model's metadata names the labels file '$name' but the model carries no such file " +
                        "(packed files: ${files.keys.sorted().ifEmpty { "none" }})",
                )
                Labels.parse(data)
            }
            val operators = graph.tables(3 /* operators */)?.size ?: 0
            return ModelInfo(io(1 /* inputs */), io(2 /* outputs */), metadata, labels, files, operators)
        }

        // Tables are read by field slot: the field's index in schema.fbs (TFLite) or
        // metadata_schema.fbs (TFLite Support), a union taking two (its type first); each call
        // names its field. Enum and union members by their schema codes:
        private const val NORMALIZATION_OPTIONS = 1 // in union ProcessUnitOptions
        private const val IMAGE_PROPERTIES = 2 // in union ContentProperties
        private val ASSOCIATED_FILE_TYPES = listOf(
            "UNKNOWN", "DESCRIPTIONS", "TENSOR_AXIS_LABELS", "TENSOR_VALUE_LABELS",
            "TENSOR_AXIS_SCORE_CALIBRATION", "VOCABULARY", "SCANN_INDEX_FILE",
        )
        private val COLOR_SPACES = listOf("UNKNOWN", "RGB", "GRAYSCALE")

        private fun tensorInfo(fb: FlatBuffer, tensor: Table): TensorInfo {
            val name = tensor.string(3 /* name */) ?: ""
            val quantization = tensor.table(4 /* quantization */)
            val scales = quantization?.floats(2 /* scale */).orEmpty()
            val zeroPoint = quantization?.longs(3 /* zero_point */)?.firstOrNull() ?: 0L
            if (zeroPoint < Int.MIN_VALUE || zeroPoint > Int.MAX_VALUE) fb.corrupt("tensor '$name' has zero point $zeroPoint")
            val perTensor = scales.size == 1
            return TensorInfo(
                name = name,
                shape = tensor.ints(0 /* shape */).orEmpty(),
                type = TensorType.of(tensor.u8(1 /* type */)),
                scale = if (perTensor) scales[0] else null,
                zeroPoint = if (perTensor) zeroPoint.toInt() else null,
            )
        }

        /** The data of the buffer that the Model.metadata entry named TFLITE_METADATA points to. */
        private fun metadataBuffer(bytes: ByteArray, model: Table): ByteArray? {
            val entry = model.tables(6 /* metadata */).orEmpty().firstOrNull { it.string(0 /* name */) == METADATA_NAME }
                ?: return null
            val index = entry.u32(1 /* buffer */)
            val buffers = model.tables(4 /* buffers */).orEmpty()
            if (index >= buffers.size) {
                throw IllegalArgumentException(
                    "metadata buffer out of range: $METADATA_NAME names buffer $index, the model has ${buffers.size}",
                )
            }
            val buffer = buffers[index.toInt()]
            buffer.byteVector(0 /* data */)?.let { return it }
            // Models over 2 GB keep buffers after the flatbuffer: an offset (> 1) from the file's start and a size.
            val offset = buffer.i64(1 /* offset */)
            val size = buffer.i64(2 /* size */)
            if (offset <= 1) return null
            if (size < 0 || offset + size < 0 || offset + size > bytes.size) {
                throw IllegalArgumentException(
                    "$METADATA_NAME is stored outside the flatbuffer at bytes $offset..+$size, past the end of the " +
                        "file (${bytes.size} bytes); models over 2 GB are not supported",
                )
            }
            return bytes.copyOfRange(offset.toInt(), (offset + size).toInt())
        }

        private fun parseMetadata(data: ByteArray): ModelMetadata {
            val fb = FlatBuffer(data, "the model's $METADATA_NAME flatbuffer")
            if (fb.identifier() != "M001") {
                throw IllegalArgumentException(
                    "the model's $METADATA_NAME entry is not TFLite Metadata (no M001 identifier at bytes 4..7)",
                )
            }
            val root = fb.root() // ModelMetadata
            val graph = root.tables(3 /* subgraph_metadata */)?.firstOrNull()
            fun tensors(slot: Int) = graph?.tables(slot).orEmpty().map(::tensorMetadata)
            // SubGraphMetadata.custom_metadata (added in metadata schema 1.5.0): CustomMetadata { name, data }.
            val custom = graph?.tables(9 /* custom_metadata */).orEmpty().map {
                CustomMetadata(it.string(0 /* name */), it.byteVector(1 /* data */) ?: ByteArray(0))
            }
            return ModelMetadata(
                name = root.string(0 /* name */),
                description = root.string(1 /* description */),
                version = root.string(2 /* version */),
                author = root.string(4 /* author */),
                license = root.string(5 /* license */),
                minParserVersion = root.string(7 /* min_parser_version */),
                inputs = tensors(2 /* input_tensor_metadata */),
                outputs = tensors(3 /* output_tensor_metadata */),
                associatedFiles = associatedFiles(root, 6 /* associated_files */),
                customMetadata = custom,
                segmenter = custom.lastOrNull { it.name == SEGMENTER_METADATA }?.let { SegmenterOptions.parse(it.data) },
            )
        }

        private fun tensorMetadata(tensor: Table): TensorMetadata {
            val image = tensor.table(3 /* content */)?.union(0 /* content_properties_type */)
                ?.takeIf { it.first == IMAGE_PROPERTIES }?.second
            val normalization = tensor.tables(4 /* process_units */).orEmpty().firstNotNullOfOrNull { unit ->
                unit.union(0 /* options_type */)?.takeIf { it.first == NORMALIZATION_OPTIONS }?.second
            }
            return TensorMetadata(
                name = tensor.string(0 /* name */),
                description = tensor.string(1 /* description */),
                colorSpace = image?.let { enumName(COLOR_SPACES, it.u8(0 /* color_space */)) },
                mean = normalization?.floats(0 /* mean */),
                std = normalization?.floats(1 /* std */),
                associatedFiles = associatedFiles(tensor, 6 /* associated_files */),
            )
        }

        private fun associatedFiles(table: Table, slot: Int): List<AssociatedFile> =
            table.tables(slot).orEmpty().map {
                AssociatedFile(
                    name = it.string(0 /* name */),
                    type = enumName(ASSOCIATED_FILE_TYPES, it.u8(2 /* type */)),
                    description = it.string(1 /* description */),
                    locale = it.string(3 /* locale */),
                )
            }

        /** An enum member's name; a code newer than [names] as its number. */
        private fun enumName(names: List<String>, code: Int): String = names.getOrElse(code) { code.toString() }
    }
}
