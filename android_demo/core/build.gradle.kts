import org.jetbrains.kotlin.gradle.dsl.JvmTarget

// The app's pure-Kotlin core: no Android imports, so the same sources also compile with plain
// kotlinc (core/build.sh), which is how the repository's CI tests them.
plugins {
    alias(libs.plugins.kotlin.jvm)
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

// The tests are a plain main() runner (no JUnit), as in core/build.sh.
val coreTests by tasks.registering(JavaExec::class) {
    group = "verification"
    description = "Runs the core's unit tests."
    classpath = sourceSets["test"].runtimeClasspath
    mainClass.set("dev.mobilekit.core.CoreTestsKt")
}

tasks.named("check") { dependsOn(coreTests) }
