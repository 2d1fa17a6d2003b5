// AGP 9 compiles Kotlin itself (built-in Kotlin); the Kotlin JVM plugin is for the pure-Kotlin
// :core module, and putting it on the build classpath here also picks the Kotlin version AGP uses.
plugins {
    alias(libs.plugins.android.application) apply false
    alias(libs.plugins.kotlin.jvm) apply false
}
