package dev.mobilekit.core

import java.util.zip.CRC32
import java.util.zip.DataFormatException
import java.util.zip.Inflater

/**
 * The associated files of a .tflite model: a ZIP archive appended after the model's flatbuffer
 * (`mobilekit.export.metadata.attach` writes one, entries stored uncompressed, as MediaPipe and
 * the TFLite Task Library expect). A ZipInputStream from byte 0 would meet the flatbuffer first,
 * so the archive is found from its end, as Python's zipfile does: the end-of-central-directory
 * record, then the central directory, then each entry's local header. Offsets may count from the
 * start of the file (mobilekit) or of the archive (`cat model zip`); both are read.
 */
internal object AppendedZip {
    private const val EOCD = 0x06054b50L
    private const val CENTRAL = 0x02014b50L
    private const val LOCAL = 0x04034b50L
    private const val EOCD_SIZE = 22
    private const val STORED = 0
    private const val DEFLATED = 8

    /** The archive's files by name (names read as UTF-8), or an empty map when there is no archive. */
    fun files(bytes: ByteArray): Map<String, ByteArray> {
        val zip = LittleEndianBytes(bytes, 0, bytes.size, "the ZIP appended to the model")
        val eocd = findEnd(zip) ?: return emptyMap()
        val count = zip.u16(eocd + 10)
        val directorySize = zip.u32(eocd + 12)
        val directoryOffset = zip.u32(eocd + 16)
        if (count == 0xFFFF || directorySize == 0xFFFFFFFFL || directoryOffset == 0xFFFFFFFFL) {
            throw IllegalArgumentException("the ZIP appended to the model is a ZIP64 archive, which is not read")
        }
        val directory = eocd - directorySize
        val base = directory - directoryOffset // where the archive's offsets count from
        if (directory < 0 || base < 0) zip.corrupt("its central directory ($directorySize bytes) does not fit before byte $eocd")
        val files = LinkedHashMap<String, ByteArray>()
        var at = directory.toInt()
        repeat(count) {
            if (zip.u32(at) != CENTRAL) zip.corrupt("no central directory entry at byte $at")
            val nameLength = zip.u16(at + 28)
            val name = String(zip.bytes(at + 46, nameLength), Charsets.UTF_8)
            files[name] = entry(zip, at, base + zip.u32(at + 42), name)
            at += 46 + nameLength + zip.u16(at + 30) + zip.u16(at + 32)
        }
        return files
    }

    /** The end-of-central-directory record: the last one whose comment ends the file, or null. */
    private fun findEnd(zip: LittleEndianBytes): Int? {
        val last = zip.size - EOCD_SIZE
        for (pos in last downTo maxOf(0, last - 0xFFFF)) {
            if (zip.u32(pos) == EOCD && pos + EOCD_SIZE + zip.u16(pos + 20) == zip.size) return pos
        }
        return null
    }

    /** The contents of the entry whose central directory record is at [central]. */
    private fun entry(zip: LittleEndianBytes, central: Int, local: Long, name: String): ByteArray {
        val method = zip.u16(central + 10)
        val crc = zip.u32(central + 16)
        val packed = zip.u32(central + 20)
        val size = zip.u32(central + 24)
        if (packed == 0xFFFFFFFFL || size == 0xFFFFFFFFL || local >= zip.size) {
            zip.corrupt("entry '$name' has its local header at byte $local, outside the file, or ZIP64 sizes")
        }
        val header = local.toInt()
        if (zip.u32(header) != LOCAL) zip.corrupt("entry '$name' has no local header at byte $header")
        val start = header + 30 + zip.u16(header + 26) + zip.u16(header + 28)
        zip.checked(start, packed, 1, "entry '$name'")
        val data = when (method) {
            STORED -> {
                if (packed != size) zip.corrupt("stored entry '$name' has $packed bytes packed, $size unpacked")
                zip.bytes(start, packed.toInt())
            }
            DEFLATED -> inflate(zip, zip.bytes(start, packed.toInt()), size, name)
            else -> throw IllegalArgumentException(
                "associated file '$name' uses ZIP compression method $method; only stored and deflated entries are read",
            )
        }
        if (CRC32().apply { update(data) }.value != crc) zip.corrupt("entry '$name' fails its CRC-32 check")
        return data
    }

    private fun inflate(zip: LittleEndianBytes, packed: ByteArray, size: Long, name: String): ByteArray {
        // Deflate expands at most ~1032:1; a larger claim is corrupt (and would allocate too much).
        if (size > 1032L * packed.size + 64 || size >= Int.MAX_VALUE) {
            zip.corrupt("entry '$name' claims $size bytes from ${packed.size} deflated")
        }
        val out = ByteArray(size.toInt() + 1) // one byte more, so that longer data shows
        val inflater = Inflater(true)
        try {
            inflater.setInput(packed)
            val n = inflater.inflate(out)
            if (n.toLong() != size || !inflater.finished()) zip.corrupt("entry '$name' does not inflate to its $size bytes")
        } catch (e: DataFormatException) {
            zip.corrupt("entry '$name' is not valid deflate data (${e.message})")
        } finally {
            inflater.end()
        }
        return out.copyOf(size.toInt())
    }
}
