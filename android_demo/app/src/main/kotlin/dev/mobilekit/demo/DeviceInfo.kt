package dev.mobilekit.demo

import android.os.Build
import dev.mobilekit.core.Device

/** This phone as the `device` object of a results JSON. */
object DeviceInfo {
    fun current(): Device = Device(
        name = "${Build.MANUFACTURER} ${Build.MODEL}",
        os = "Android ${Build.VERSION.RELEASE} (API ${Build.VERSION.SDK_INT})",
        soc = soc(),
        cores = Runtime.getRuntime().availableProcessors(),
        runtime = "LiteRT ${BuildConfig.LITERT_VERSION}",
    )

    /** The SoC's maker and model (Android 12+), else the board name the kernel reports. */
    private fun soc(): String =
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) "${Build.SOC_MANUFACTURER} ${Build.SOC_MODEL}" else Build.HARDWARE

    /** NNAPI is deprecated from Android 15 (API 35). */
    val nnapiDeprecated: Boolean get() = Build.VERSION.SDK_INT >= Build.VERSION_CODES.VANILLA_ICE_CREAM
}
