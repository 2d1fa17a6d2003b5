package dev.mobilekit.core

import kotlin.math.abs

/** A tiny assertion helper and test runner: no JUnit jar is needed to run the core's tests. */
class CheckFailed(message: String) : AssertionError(message)

fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw CheckFailed(message())
}

fun <T> checkEqual(expected: T, actual: T, what: String = "value") =
    check(expected == actual) { "$what: expected <$expected>, got <$actual>" }

fun checkClose(expected: Double, actual: Double, tolerance: Double = 1e-12, what: String = "value") =
    check(abs(expected - actual) <= tolerance) { "$what: expected $expected, got $actual (tolerance $tolerance)" }

inline fun <reified E : Throwable> checkThrows(what: String, block: () -> Unit) {
    try {
        block()
    } catch (e: Throwable) {
        if (e is E) return
        throw CheckFailed("$what: expected ${E::class.simpleName}, got $e")
    }
    throw CheckFailed("$what: expected ${E::class.simpleName}, nothing was thrown")
}

/** Runs named tests; prints one line each and exits 1 if any failed. */
class TestRunner {
    private val tests = mutableListOf<Pair<String, () -> Unit>>()
    fun test(name: String, body: () -> Unit) { tests += name to body }
    fun run(): Int {
        var failed = 0
        for ((name, body) in tests) {
            try {
                body()
                println("PASS $name")
            } catch (e: Throwable) {
                failed++
                println("FAIL $name: $e")
            }
        }
        println("${tests.size - failed} passed, $failed failed")
        return failed
    }
}
