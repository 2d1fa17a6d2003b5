package dev.mobilekit.core

import kotlin.math.floor
import kotlin.math.min
import kotlin.math.sqrt

/**
 * Latency over the timed runs in milliseconds, defined exactly as mobilekit.runtime.benchmark.latency_stats
 * (NumPy): median, p90 = np.percentile(times, 90) with linear interpolation, mean, population std,
 * min, max. Sums use NumPy's pairwise summation so the results are bit-for-bit the same.
 */
data class LatencyStats(
    val median: Double, val p90: Double, val mean: Double, val std: Double,
    val min: Double, val max: Double, val runs: Int,
) {
    companion object {
        fun of(timesMs: DoubleArray): LatencyStats {
            require(timesMs.isNotEmpty()) { "no timed runs" }
            val sorted = timesMs.sortedArray()
            val n = timesMs.size
            val mean = pairwiseSum(timesMs, 0, n) / n
            val squares = DoubleArray(n) { val d = timesMs[it] - mean; d * d }
            val std = sqrt(pairwiseSum(squares, 0, n) / n)
            return LatencyStats(
                median = median(sorted), p90 = percentile(sorted, 90.0), mean = mean, std = std,
                min = sorted[0], max = sorted[n - 1], runs = n,
            )
        }

        fun of(timesMs: List<Double>): LatencyStats = of(timesMs.toDoubleArray())

        /** np.median of sorted values: the middle one, or the mean of the two middle ones. */
        fun median(sorted: DoubleArray): Double {
            val n = sorted.size
            return if (n % 2 == 1) sorted[n / 2] else (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        }

        /** np.percentile(values, q) with the default 'linear' method, on sorted values. */
        fun percentile(sorted: DoubleArray, q: Double): Double {
            val n = sorted.size
            val virtual = (n - 1) * (q / 100.0)
            val previous = floor(virtual)
            val lo = min(previous.toInt(), n - 1)
            val hi = min(lo + 1, n - 1)
            val t = virtual - previous
            val a = sorted[lo]
            val b = sorted[hi]
            val diff = b - a
            // NumPy's _lerp: a + (b - a) * t, or b - (b - a) * (1 - t) when t >= 0.5.
            return if (t >= 0.5) b - diff * (1 - t) else a + diff * t
        }

        /** NumPy's pairwise summation (blocks of 8 accumulators up to 128 values, then halving). */
        internal fun pairwiseSum(values: DoubleArray, start: Int, n: Int): Double {
            if (n < 8) {
                var res = 0.0
                for (i in 0 until n) res += values[start + i]
                return res
            }
            if (n <= 128) {
                val r = DoubleArray(8) { values[start + it] }
                var i = 8
                while (i < n - (n % 8)) {
                    for (j in 0 until 8) r[j] += values[start + i + j]
                    i += 8
                }
                var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
                while (i < n) { res += values[start + i]; i++ }
                return res
            }
            var n2 = n / 2
            n2 -= n2 % 8
            return pairwiseSum(values, start, n2) + pairwiseSum(values, start + n2, n - n2)
        }
    }
}
