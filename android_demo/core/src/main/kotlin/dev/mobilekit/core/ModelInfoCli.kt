package dev.mobilekit.core

import java.io.File

/**
 * Command-line entry for the cross-language tests: prints [ModelInfo] of .tflite files as JSON, one
 * line per file (floats as the exact value of the file's float32, associated files as size and
 * SHA-256, custom metadata as name and SHA-256, and the file's task).
 *
 *     ModelInfoCli MODEL.tflite [MODEL.tflite ...]
 *
 * A file it cannot read prints `{"error": "<the reader's message>"}` as its line and
 * `error: <file>: <message>` on stderr, and the exit status is 1.
 */
object ModelInfoCli {
    @JvmStatic
    fun main(args: Array<String>) {
        if (args.isEmpty()) {
            System.err.println("usage: ModelInfoCli MODEL.tflite [MODEL.tflite ...]")
            kotlin.system.exitProcess(2)
        }
        var failed = false
        for (path in args) {
            val line = try {
                json(ModelInfo.read(File(path).readBytes()))
            } catch (e: IllegalArgumentException) {
                failed = true
                System.err.println("error: $path: ${e.message}")
                obj("error" to ResultsJson.str(e.message ?: "unreadable"))
            }
            println(line)
        }
        if (failed) kotlin.system.exitProcess(1)
    }

    fun json(info: ModelInfo): String = obj(
        "inputs" to arr(info.inputs.map(::tensor)),
        "outputs" to arr(info.outputs.map(::tensor)),
        "metadata" to info.metadata?.let(::metadata),
        "labels" to info.labels?.let { labels -> arr(labels.map(ResultsJson::str)) },
        "operators" to info.operators.toString(),
        "task" to ResultsJson.str(info.task.id),
        "associated_files" to obj(
            *info.associatedFiles.map { (name, data) ->
                name to obj("size" to data.size.toString(), "sha256" to ResultsJson.str(ResultsJson.sha256(data)))
            }.toTypedArray(),
        ),
    )

    private fun tensor(t: TensorInfo) = obj(
        "name" to ResultsJson.str(t.name),
        "shape" to arr(t.shape.map { it.toString() }),
        "type" to ResultsJson.str(t.type.name.lowercase()),
        "scale" to t.scale?.let(::float),
        "zero_point" to t.zeroPoint?.toString(),
    )

    private fun metadata(m: ModelMetadata) = obj(
        "name" to text(m.name),
        "description" to text(m.description),
        "version" to text(m.version),
        "author" to text(m.author),
        "license" to text(m.license),
        "min_parser_version" to text(m.minParserVersion),
        "inputs" to arr(m.inputs.map(::tensorMetadata)),
        "outputs" to arr(m.outputs.map(::tensorMetadata)),
        "associated_files" to arr(m.associatedFiles.map(::associatedFile)),
        "labels_file" to text(m.labelsFile),
        "custom_metadata" to arr(
            m.customMetadata.map { obj("name" to text(it.name), "sha256" to ResultsJson.str(ResultsJson.sha256(it.data))) },
        ),
        "segmenter" to m.segmenter?.let {
            obj("activation" to ResultsJson.str(it.activation.name), "min_parser_version" to text(it.minParserVersion))
        },
    )

    private fun tensorMetadata(t: TensorMetadata) = obj(
        "name" to text(t.name),
        "description" to text(t.description),
        "color_space" to text(t.colorSpace),
        "mean" to t.mean?.let { values -> arr(values.map(::float)) },
        "std" to t.std?.let { values -> arr(values.map(::float)) },
        "associated_files" to arr(t.associatedFiles.map(::associatedFile)),
    )

    private fun associatedFile(f: AssociatedFile) = obj(
        "name" to text(f.name),
        "type" to ResultsJson.str(f.type),
        "description" to text(f.description),
        "locale" to text(f.locale),
    )

    /** A JSON object of already-rendered values; null values render as null. */
    private fun obj(vararg fields: Pair<String, String?>) =
        fields.joinToString(", ", "{", "}") { (key, value) -> "${ResultsJson.str(key)}: ${value ?: "null"}" }

    private fun arr(items: List<String>) = items.joinToString(", ", "[", "]")
    private fun text(value: String?) = value?.let(ResultsJson::str)
    private fun float(value: Float) = ResultsJson.num(value.toDouble()) // the float32's exact value
}
