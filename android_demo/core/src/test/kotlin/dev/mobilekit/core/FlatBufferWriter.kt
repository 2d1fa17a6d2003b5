package dev.mobilekit.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Test-only FlatBuffer values, written front to back: the root offset and identifier, then each
 * table (its vtable just before it) ahead of the strings, vectors and tables it points to, so
 * every uoffset points forward as the format requires. No alignment padding: [FlatBuffer] does
 * not need it. A table's fields are its slots in order; null leaves a slot absent.
 */
sealed interface Fb

class FbTable(vararg val fields: Fb?) : Fb
class FbString(val value: String) : Fb
class FbVector(val elements: List<Fb>) : Fb
class FbByte(val value: Int) : Fb
class FbInt(val value: Int) : Fb
class FbLong(val value: Long) : Fb
class FbFloat(val value: Float) : Fb

fun fbInts(values: List<Int>) = FbVector(values.map(::FbInt))
fun fbFloats(values: List<Float>) = FbVector(values.map(::FbFloat))
fun fbBytes(values: ByteArray) = FbVector(values.map { FbByte(it.toInt()) })

/** [root] as a FlatBuffer with the 4-character [identifier]. */
fun flatBuffer(root: FbTable, identifier: String): ByteArray {
    val out = ByteBuffer.allocate(1 shl 20).order(ByteOrder.LITTLE_ENDIAN)
    val pending = ArrayDeque<Pair<Int, Fb>>() // (where a uoffset goes, what it points to)

    fun inline(value: Fb) {
        when (value) {
            is FbByte -> out.put(value.value.toByte())
            is FbInt -> out.putInt(value.value)
            is FbLong -> out.putLong(value.value)
            is FbFloat -> out.putFloat(value.value)
            else -> { pending += out.position() to value; out.putInt(0) } // patched once written
        }
    }

    /** Writes [value] and returns where uoffsets to it point (for a table: after its vtable). */
    fun write(value: Fb): Int {
        val start = out.position()
        when (value) {
            is FbTable -> {
                val vtable = out.position()
                out.position(vtable + 4 + 2 * value.fields.size)
                val table = out.position()
                out.putInt(table - vtable)
                val offsets = value.fields.map { field -> field?.let { (out.position() - table).also { _ -> inline(it) } } ?: 0 }
                out.putShort(vtable, (4 + 2 * value.fields.size).toShort())
                out.putShort(vtable + 2, (out.position() - table).toShort())
                offsets.forEachIndexed { slot, offset -> out.putShort(vtable + 4 + 2 * slot, offset.toShort()) }
                return table
            }
            is FbString -> value.value.toByteArray().let { out.putInt(it.size).put(it).put(0) }
            is FbVector -> { out.putInt(value.elements.size); value.elements.forEach(::inline) }
            else -> error("scalars are written inline")
        }
        return start
    }

    out.putInt(0).put(identifier.toByteArray(Charsets.ISO_8859_1))
    pending += 0 to root
    while (pending.isNotEmpty()) {
        val (at, value) = pending.removeFirst()
        out.putInt(at, write(value) - at)
    }
    return out.array().copyOf(out.position())
}
