// Syntax check for Kotlin sources with the compiler's own parser: builds the PSI of each file
// (a .kts file as a script) without resolving anything, so unresolved imports such as android.*
// are fine, and prints every syntax error.
//
//   java -cp kotlin-syntax.jar:<kotlinc>/lib/kotlin-compiler.jar KotlinSyntaxKt FILE...
//
// Output: one line per error, `FILE:LINE:COLUMN: DESCRIPTION` (1-based), then exit code 1;
// exit code 0 when every file parses; 2 for a usage error or an unreadable file.
// Built against kotlin-compiler.jar 2.4.20, whose KotlinCoreEnvironment API needs the opt-ins below.
@file:OptIn(CoreEnvironmentDeprecation::class, CompilerConfiguration.Internals::class, ExperimentalCompilerApi::class)

import com.intellij.openapi.util.Disposer
import com.intellij.psi.PsiErrorElement
import com.intellij.psi.util.PsiTreeUtil
import java.io.File
import kotlin.system.exitProcess
import org.jetbrains.kotlin.CoreEnvironmentDeprecation
import org.jetbrains.kotlin.cli.extensionsStorage
import org.jetbrains.kotlin.cli.jvm.compiler.EnvironmentConfigFiles
import org.jetbrains.kotlin.cli.jvm.compiler.KotlinCoreEnvironment
import org.jetbrains.kotlin.compiler.plugin.CompilerPluginRegistrar
import org.jetbrains.kotlin.compiler.plugin.ExperimentalCompilerApi
import org.jetbrains.kotlin.config.CompilerConfiguration
import org.jetbrains.kotlin.psi.KtPsiFactory

/** 1-based line and column of [offset] in [text] (lines end with '\n'). */
fun lineColumn(text: String, offset: Int): Pair<Int, Int> {
    var line = 1
    var lineStart = 0
    for (i in 0 until offset) {
        if (text[i] == '\n') {
            line++
            lineStart = i + 1
        }
    }
    return line to offset - lineStart + 1
}

fun main(args: Array<String>) {
    if (args.isEmpty()) {
        System.err.println("usage: KotlinSyntaxKt FILE...")
        exitProcess(2)
    }
    val disposable = Disposer.newDisposable("KotlinSyntax")
    var errors = 0
    try {
        // No compiler plugins: an empty extension storage is all the environment asks for.
        val configuration = CompilerConfiguration().apply {
            extensionsStorage = CompilerPluginRegistrar.ExtensionStorage()
        }
        val environment = KotlinCoreEnvironment.createForProduction(
            disposable, configuration, EnvironmentConfigFiles.JVM_CONFIG_FILES)
        val factory = KtPsiFactory(environment.project, markGenerated = false)
        for (path in args) {
            val file = File(path)
            if (!file.isFile) {
                System.err.println("$path: not a readable file")
                exitProcess(2)
            }
            // The PSI wants '\n' line ends; the parser picks script mode from the .kts extension.
            val text = file.readText().replace("\r\n", "\n").replace('\r', '\n')
            val ktFile = factory.createFile(file.name, text)
            for (error in PsiTreeUtil.collectElementsOfType(ktFile, PsiErrorElement::class.java)) {
                val (line, column) = lineColumn(text, error.textRange.startOffset)
                println("$path:$line:$column: ${error.errorDescription}")
                errors++
            }
        }
    } finally {
        Disposer.dispose(disposable)
    }
    exitProcess(if (errors > 0) 1 else 0)
}
