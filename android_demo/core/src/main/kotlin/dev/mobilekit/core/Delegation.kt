package dev.mobilekit.core

/**
 * Whether a delegate took any part of a model, judged from the interpreter's execution plan: each
 * run of ops a delegate takes becomes one node of the plan, so a plan with as many nodes as the
 * model has ops took nothing (or, the one case this cannot tell apart, took only single ops).
 *
 * The NNAPI delegate reports success on a phone whose only NNAPI device is `nnapi-reference` (the
 * CPU) and then takes no ops: without this check an "nnapi" benchmark is the CPU's figure.
 */
object Delegation {
    /**
     * Why a result for [accelerator] would not be that accelerator's: null when the plan of
     * [planLength] nodes shows it took ops from the model's [operators]. [planLength] null: the plan
     * could not be read, so nothing can be claimed either.
     */
    fun notDelegated(accelerator: Accelerator, operators: Int, planLength: Int?): String? = when {
        planLength == null ->
            "could not read the interpreter's execution plan, so whether ${accelerator.id} ran any op is unknown"
        operators > 0 && planLength >= operators ->
            "the ${accelerator.id} delegate took none of the model's $operators ops (the execution plan still has " +
                "$planLength nodes): no NNAPI device but the CPU reference, or drivers that refuse every op; " +
                "this would be the CPU's figure, not the accelerator's"
        else -> null
    }
}
