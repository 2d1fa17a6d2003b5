package dev.mobilekit.core

/** A labels file as mobilekit writes into TFLite Metadata: one label per line. */
object Labels {
    /**
     * The labels in [text]: one per line (\n, \r\n or \r), each trimmed; a trailing empty line
     * (the file's final newline) is dropped, as is a leading byte-order mark.
     * Empty lines inside the file are kept as empty labels so indices stay aligned with outputs.
     */
    fun parse(text: String): List<String> {
        val body = text.removePrefix("\uFEFF")
        if (body.isEmpty()) return emptyList()
        val lines = body.split("\r\n", "\n", "\r").map { it.trim() }.toMutableList()
        while (lines.isNotEmpty() && lines.last().isEmpty()) lines.removeAt(lines.size - 1)
        return lines
    }

    fun parse(bytes: ByteArray): List<String> = parse(String(bytes, Charsets.UTF_8))
}
