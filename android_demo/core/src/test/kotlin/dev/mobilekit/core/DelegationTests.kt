package dev.mobilekit.core

// An accelerator result must not be the CPU's (Delegation), and says so in the results JSON.

fun delegationTests(t: TestRunner) {
    t.test("delegation: a plan as long as the model took nothing; a shorter one took ops") {
        val nothing = Delegation.notDelegated(Accelerator.NNAPI, operators = 64, planLength = 64)
        check(nothing != null && "took none of the model's 64 ops" in nothing && "CPU" in nothing) { "$nothing" }
        checkEqual(null, Delegation.notDelegated(Accelerator.NNAPI, operators = 64, planLength = 3), "delegated")
        val unknown = Delegation.notDelegated(Accelerator.NNAPI, operators = 64, planLength = null)
        check(unknown != null && "unknown" in unknown) { "$unknown" }
    }
    t.test("delegation: the result of an NNAPI run that fell back to the CPU is an error, without latency") {
        val reason = Delegation.notDelegated(Accelerator.NNAPI, operators = 10, planLength = 10)!!
        val json = ResultsJson.write(
            Device("phone"), listOf(BenchResult(model = "m", delegate = "nnapi", threads = 1, error = reason)),
        )
        check("\"error\": ${ResultsJson.str(reason)}" in json && "latency_ms" !in json) { json }
    }
}
