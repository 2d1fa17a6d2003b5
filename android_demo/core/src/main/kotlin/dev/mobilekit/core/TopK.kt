package dev.mobilekit.core

/** One class of a top-k answer: its output [index], [score] and, when known, its [label]. */
data class Scored(val index: Int, val score: Float, val label: String? = null)

object TopK {
    /**
     * The [k] highest [scores], best first. Ties keep the lower index first (a stable order),
     * NaN scores are ranked last. k larger than the number of scores gives them all.
     */
    fun topK(scores: FloatArray, k: Int, labels: List<String>? = null): List<Scored> {
        require(k >= 0) { "k must be >= 0, got $k" }
        val order = scores.indices.sortedWith { a, b ->
            val sa = scores[a]
            val sb = scores[b]
            when {
                sa.isNaN() && sb.isNaN() -> 0
                sa.isNaN() -> 1
                sb.isNaN() -> -1
                else -> sb.compareTo(sa)
            }
        }
        return order.take(k).map { Scored(it, scores[it], labels?.getOrNull(it)) }
    }

    /** Indices only, best first (see [topK]). */
    fun indices(scores: FloatArray, k: Int): IntArray = topK(scores, k).map { it.index }.toIntArray()
}
