package dev.mobilekit.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Checked little-endian reads of [bytes][start, start + length): every position is checked
 * before it is read, so a truncated or corrupt input gives an [IllegalArgumentException] saying
 * "<what> is corrupt: ...", never an index exception. The base of [FlatBuffer] and of the ZIP
 * reader in [AppendedZip].
 */
internal open class LittleEndianBytes(bytes: ByteArray, start: Int, length: Int, val what: String) {
    private val buf: ByteBuffer = ByteBuffer.wrap(bytes, start, length).slice().order(ByteOrder.LITTLE_ENDIAN)
    val size: Int get() = buf.limit()

    fun corrupt(detail: String): Nothing = throw IllegalArgumentException("$what is corrupt: $detail")

    /** [pos] after checking that [count] items of [width] bytes from there lie inside the bytes. */
    fun checked(pos: Int, count: Long, width: Int, thing: String): Int {
        if (pos < 0 || count < 0 || pos + count * width > size) {
            corrupt("$thing at byte $pos ($count x $width bytes) runs past the end of its $size bytes")
        }
        return pos
    }

    fun u8(pos: Int): Int = buf.get(checked(pos, 1, 1, "a byte")).toInt() and 0xFF
    fun u16(pos: Int): Int = buf.getShort(checked(pos, 1, 2, "a short")).toInt() and 0xFFFF
    fun i32(pos: Int): Int = buf.getInt(checked(pos, 1, 4, "an int"))
    fun u32(pos: Int): Long = i32(pos).toLong() and 0xFFFFFFFFL
    fun i64(pos: Int): Long = buf.getLong(checked(pos, 1, 8, "a long"))
    fun f32(pos: Int): Float = buf.getFloat(checked(pos, 1, 4, "a float"))

    fun bytes(pos: Int, count: Int): ByteArray {
        checked(pos, count.toLong(), 1, "$count bytes")
        return ByteArray(count).also { buf.duplicate().apply { position(pos) }.get(it) }
    }
}

/**
 * One FlatBuffer (little-endian) in [bytes][start, start + length): enough of the format to read
 * tables by field slot, as a schema's generated code would. [what] names the buffer in errors; a
 * vector's length is checked against the buffer before anything is allocated for it.
 */
internal class FlatBuffer(bytes: ByteArray, start: Int, length: Int, what: String) :
    LittleEndianBytes(bytes, start, length, what) {

    constructor(bytes: ByteArray, what: String) : this(bytes, 0, bytes.size, what)

    /** The 4-character file identifier after the root offset, or null when the buffer is too short. */
    fun identifier(): String? =
        if (size < 8) null else String(bytes(4, 4), Charsets.ISO_8859_1)

    /** The root table, which the buffer's first uoffset points to. */
    fun root(): Table = Table(this, target(0))

    /** Where the uoffset stored at [pos] points (uoffsets are unsigned and point forward). */
    fun target(pos: Int): Int {
        val target = pos + u32(pos)
        if (target >= size) corrupt("an offset at byte $pos points to byte $target, past the end of its $size bytes")
        return target.toInt()
    }
}

/**
 * One table of a [FlatBuffer]. Fields are addressed by slot: the field's index in the schema,
 * counting a union as two slots (`<name>_type`, then `<name>`). Absent fields read as the
 * schema default (the `default` argument) or null.
 */
internal class Table(private val fb: FlatBuffer, private val pos: Int) {
    private val vtable: Int
    private val vtableSize: Int

    init {
        val vt = pos.toLong() - fb.i32(pos) // soffset: signed, from the table back (or on) to its vtable
        if (vt < 0 || vt + 4 > fb.size) fb.corrupt("the table at byte $pos has its vtable at byte $vt, outside the buffer")
        vtable = vt.toInt()
        vtableSize = fb.u16(vtable)
        if (vtableSize < 4 || vtableSize % 2 != 0) fb.corrupt("the vtable at byte $vtable has size $vtableSize")
        fb.checked(vtable, vtableSize.toLong(), 1, "a vtable")
    }

    /** The field's position in the buffer, or 0 when the table does not carry it. */
    private fun field(slot: Int): Int {
        val entry = 4 + 2 * slot
        if (entry + 2 > vtableSize) return 0
        val offset = fb.u16(vtable + entry)
        return if (offset == 0) 0 else pos + offset
    }

    fun u8(slot: Int, default: Int = 0): Int = field(slot).let { if (it == 0) default else fb.u8(it) }
    fun i32(slot: Int, default: Int = 0): Int = field(slot).let { if (it == 0) default else fb.i32(it) }
    fun u32(slot: Int, default: Long = 0): Long = field(slot).let { if (it == 0) default else fb.u32(it) }
    fun i64(slot: Int, default: Long = 0): Long = field(slot).let { if (it == 0) default else fb.i64(it) }

    fun string(slot: Int): String? = field(slot).let { if (it == 0) null else stringAt(fb.target(it)) }

    fun table(slot: Int): Table? = field(slot).let { if (it == 0) null else Table(fb, fb.target(it)) }

    /**
     * A union: its type code (slot [typeSlot], 0 = NONE) and its table (slot [typeSlot] + 1),
     * or null when the union is NONE or absent.
     */
    fun union(typeSlot: Int): Pair<Int, Table>? {
        val type = u8(typeSlot)
        val value = table(typeSlot + 1)
        return if (type == 0 || value == null) null else type to value
    }

    fun tables(slot: Int): List<Table>? = vector(slot, 4) { Table(fb, fb.target(it)) }
    fun strings(slot: Int): List<String>? = vector(slot, 4) { stringAt(fb.target(it)) }
    fun ints(slot: Int): List<Int>? = vector(slot, 4) { fb.i32(it) }
    fun longs(slot: Int): List<Long>? = vector(slot, 8) { fb.i64(it) }
    fun floats(slot: Int): List<Float>? = vector(slot, 4) { fb.f32(it) }

    /** A vector of ubyte, as one array (a model's buffer data). */
    fun byteVector(slot: Int): ByteArray? {
        val at = field(slot)
        if (at == 0) return null
        val start = fb.target(at)
        return fb.bytes(start + 4, vectorLength(start, 1))
    }

    private fun stringAt(start: Int): String = String(fb.bytes(start + 4, vectorLength(start, 1)), Charsets.UTF_8)

    /** The element count at [start], checked to fit the buffer with elements of [width] bytes. */
    private fun vectorLength(start: Int, width: Int): Int {
        val n = fb.u32(start)
        fb.checked(start + 4, n, width, "a vector of $n")
        return n.toInt()
    }

    private fun <T> vector(slot: Int, width: Int, element: (pos: Int) -> T): List<T>? {
        val at = field(slot)
        if (at == 0) return null
        val start = fb.target(at)
        return List(vectorLength(start, width)) { element(start + 4 + width * it) }
    }
}
