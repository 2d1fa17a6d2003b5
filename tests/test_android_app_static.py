"""Static checks of the Android demo (android_demo/), which cannot be built here (no Android SDK).

The checks (tests/android/app_checks.py, KotlinSyntax.kt for Kotlin) prove that the sources are
complete: every Kotlin file parses with the real Kotlin parser, every XML file is well-formed,
every resource the code and XML name is defined, the manifest names real classes, string formats
are sound, and the Gradle wiring (version catalog, settings, wrapper, README coordinates) resolves.

Each check first runs on a small fixture project: clean, it passes; with one defect written in, it
reports that defect with file and line. Then each runs on the real android_demo/.
"""

from __future__ import annotations

import pathlib
import textwrap

import pytest

from android import app_checks, kotlin_tools

ANDROID_DEMO = kotlin_tools.ROOT / "android_demo"

# A small project shaped like android_demo: an app module (views, XML layouts, Material 3) and a
# pure-Kotlin core module. Every check passes on it as written.
PROJECT = {
    "settings.gradle.kts": """
        pluginManagement {
            repositories { google(); mavenCentral(); gradlePluginPortal() }
        }
        rootProject.name = "demo"
        include(":app", ":core")
    """,
    "build.gradle.kts": """
        plugins {
            alias(libs.plugins.android.application) apply false
            alias(libs.plugins.kotlin.jvm) apply false
        }
    """,
    "gradle.properties": """
        org.gradle.jvmargs=-Xmx2g
        android.useAndroidX=true
    """,
    "gradle/wrapper/gradle-wrapper.properties": """
        distributionBase=GRADLE_USER_HOME
        distributionUrl=https\\://services.gradle.org/distributions/gradle-8.13-bin.zip
        distributionSha256Sum=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    """,
    "gradle/libs.versions.toml": """
        [versions]
        agp = "8.12.0"
        kotlin = "2.2.0"
        compileSdk = "36"
        core-ktx = "1.16.0"

        [libraries]
        androidx-core-ktx = { group = "androidx.core", name = "core-ktx", version.ref = "core-ktx" }
        material = { module = "com.google.android.material:material", version = "1.12.0" }
        junit = "junit:junit:4.13.2"

        [bundles]
        ui = ["androidx-core-ktx", "material"]

        [plugins]
        android-application = { id = "com.android.application", version.ref = "agp" }
        kotlin-jvm = { id = "org.jetbrains.kotlin.jvm", version.ref = "kotlin" }
    """,
    "README.md": """
        # demo

        | library | coordinates |
        | --- | --- |
        | Core KTX | `androidx.core:core-ktx:1.16.0` |
        | Material | `com.google.android.material:material:1.12.0` |
        | JUnit | `junit:junit:4.13.2` |

        Plugins: `com.android.application` 8.12.0; `org.jetbrains.kotlin.jvm` 2.2.0.
    """,
    "app/build.gradle.kts": """
        plugins {
            alias(libs.plugins.android.application)
        }

        android {
            namespace = "dev.example.demo"
            compileSdk = libs.versions.compileSdk.get().toInt()
        }

        dependencies {
            implementation(project(":core"))
            implementation(libs.bundles.ui)
            implementation(libs.androidx.core.ktx)
            testImplementation(libs.junit)
        }
    """,
    "app/src/main/AndroidManifest.xml": """
        <?xml version="1.0" encoding="utf-8"?>
        <manifest xmlns:android="http://schemas.android.com/apk/res/android"
            xmlns:tools="http://schemas.android.com/tools">
            <uses-permission android:name="android.permission.INTERNET" />
            <application
                android:name=".DemoApp"
                android:icon="@mipmap/ic_launcher"
                android:label="@string/app_name"
                android:theme="@style/Theme.Demo"
                tools:targetApi="35">
                <activity android:name=".MainActivity" android:exported="true">
                    <intent-filter>
                        <action android:name="android.intent.action.MAIN" />
                        <category android:name="android.intent.category.LAUNCHER" />
                    </intent-filter>
                </activity>
                <activity android:name="dev.example.demo.bench.BenchActivity" android:exported="true"
                    android:permission="android.permission.DUMP" />
                <provider
                    android:name="androidx.core.content.FileProvider"
                    android:authorities="dev.example.demo.files"
                    android:exported="false" />
            </application>
        </manifest>
    """,
    "app/src/main/res/values/strings.xml": """
        <?xml version="1.0" encoding="utf-8"?>
        <resources>
            <string name="app_name">Demo</string>
            <string name="run">Run</string>
            <string name="latency">%1$.2f ms on %2$d threads</string>
            <string name="percent" formatted="false">%d%% of %d</string>
            <string name="model">Model: %s</string>
            <string-array name="accelerators">
                <item>CPU</item>
                <item>@string/run</item>
            </string-array>
            <plurals name="runs">
                <item quantity="one">%d run</item>
                <item quantity="other">%d runs</item>
            </plurals>
        </resources>
    """,
    "app/src/main/res/values/themes.xml": """
        <?xml version="1.0" encoding="utf-8"?>
        <resources>
            <style name="Theme.Demo" parent="Theme.Material3.DayNight.NoActionBar">
                <item name="colorPrimary">@color/brand</item>
                <item name="android:statusBarColor">?attr/colorSurface</item>
            </style>
            <style name="Theme.Demo.Result">
                <item name="android:textAppearance">@style/TextAppearance.Material3.BodyMedium</item>
            </style>
            <dimen name="margin">16dp</dimen>
            <item name="row_tag" type="id" />
        </resources>
    """,
    "app/src/main/res/values/colors.xml": """
        <?xml version="1.0" encoding="utf-8"?>
        <resources>
            <color name="brand">#FF3366CC</color>
        </resources>
    """,
    "app/src/main/res/values-night/colors.xml": """
        <?xml version="1.0" encoding="utf-8"?>
        <resources>
            <color name="brand">#FF99BBFF</color>
        </resources>
    """,
    "app/src/main/res/layout/activity_main.xml": """
        <?xml version="1.0" encoding="utf-8"?>
        <LinearLayout xmlns:android="http://schemas.android.com/apk/res/android"
            xmlns:tools="http://schemas.android.com/tools"
            android:layout_width="match_parent"
            android:layout_height="match_parent"
            android:padding="@dimen/margin"
            android:orientation="vertical">
            <TextView
                android:id="@+id/latency"
                android:layout_width="wrap_content"
                android:layout_height="wrap_content"
                android:textColor="@color/brand"
                tools:text="@string/tools_only_sample" />
            <Button
                android:id="@+id/run"
                style="@style/Widget.Material3.Button"
                android:layout_width="wrap_content"
                android:layout_height="wrap_content"
                android:text="@string/run"
                android:drawableStart="@android:drawable/ic_media_play" />
            <ImageView
                android:layout_width="wrap_content"
                android:layout_height="wrap_content"
                android:src="@drawable/ic_model" />
        </LinearLayout>
    """,
    "app/src/main/res/drawable/ic_model.xml": """
        <vector xmlns:android="http://schemas.android.com/apk/res/android"
            android:width="24dp" android:height="24dp" android:viewportWidth="24" android:viewportHeight="24">
            <path android:fillColor="@color/brand" android:pathData="M0,0h24v24h-24z" />
        </vector>
    """,
    "app/src/main/res/mipmap-anydpi-v26/ic_launcher.xml": """
        <?xml version="1.0" encoding="utf-8"?>
        <adaptive-icon xmlns:android="http://schemas.android.com/apk/res/android">
            <background android:drawable="@color/brand" />
            <foreground android:drawable="@drawable/ic_model" />
        </adaptive-icon>
    """,
    "app/src/main/kotlin/dev/example/demo/DemoApp.kt": """
        package dev.example.demo

        import android.app.Application

        class DemoApp : Application()
    """,
    "app/src/main/kotlin/dev/example/demo/MainActivity.kt": """
        package dev.example.demo

        import android.os.Bundle
        import android.widget.Button
        import android.widget.TextView
        import androidx.appcompat.app.AppCompatActivity

        /** The main screen. R.string.only_in_a_comment is not a reference. */
        class MainActivity : AppCompatActivity() {
            override fun onCreate(savedInstanceState: Bundle?) {
                super.onCreate(savedInstanceState)
                setContentView(R.layout.activity_main)
                val latency = findViewById<TextView>(R.id.latency)
                findViewById<Button>(R.id.run).setOnClickListener {
                    latency.text = getString(R.string.latency, 1.25, threads(listOf(1, 2)))
                    latency.setTag(R.id.row_tag, "R.string.only_in_a_string")
                }
                title = "${getString(R.string.model, "x")} - ${getString(android.R.string.ok)}"
                latency.setTextColor(getColor(R.color.brand))
                setTheme(R.style.Theme_Demo_Result)
                resources.getQuantityString(R.plurals.runs, 2, 2)
                resources.getStringArray(R.array.accelerators)
                val icon = R.mipmap.ic_launcher + R.drawable.ic_model + R.dimen.margin
            }

            private fun threads(options: List<Int>): Int = options.maxOrNull() ?: 1
        }
    """,
    "app/src/main/kotlin/dev/example/demo/bench/BenchActivity.kt": """
        package dev.example.demo.bench

        import android.app.Activity

        @Suppress("unused")
        internal class BenchActivity : Activity()
    """,
    "core/build.gradle.kts": """
        plugins {
            alias(libs.plugins.kotlin.jvm)
        }

        dependencies {
            testImplementation(libs.junit)
        }
    """,
    "core/src/main/kotlin/dev/example/core/Stats.kt": """
        package dev.example.core

        fun mean(values: List<Double>): Double = values.sum() / values.size

        val template = \"\"\"a "raw" string with ${'$'}{braces} and R.string.nothing\"\"\"
    """,
}


def write_project(root: pathlib.Path, edits: dict[str, tuple[str, str] | str | None] | None = None) -> pathlib.Path:
    """PROJECT under root, with edits: path -> (old, new) replaced once, full new text, or None to delete."""
    files = {path: textwrap.dedent(text).lstrip() for path, text in PROJECT.items()}
    for path, edit in (edits or {}).items():
        if edit is None:
            del files[path]
        elif isinstance(edit, tuple):
            old, new = edit
            assert files[path].count(old) == 1, f"{old!r} is not in {path} exactly once"
            files[path] = files[path].replace(old, new)
        else:
            files[path] = textwrap.dedent(edit).lstrip()
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    (root / "app/src/main/res/mipmap-hdpi").mkdir(parents=True)
    (root / "app/src/main/res/mipmap-hdpi/ic_launcher.webp").write_bytes(b"RIFF\0\0\0\0WEBP")
    return root


CHECKS = {
    "xml": app_checks.xml_problems,
    "resources": app_checks.resource_problems,
    "manifest": app_checks.manifest_problems,
    "formats": app_checks.string_format_problems,
    "gradle": app_checks.gradle_problems,
}


@pytest.fixture(scope="module")
def syntax_tool() -> list[str]:
    return kotlin_tools.syntax_tool(kotlin_tools.require_kotlinc("the Kotlin syntax check"))


# --------------------------------------------------------------------------------------------------
# Fixture projects: each check passes on a clean project and reports each defect written into it


@pytest.mark.parametrize("check", CHECKS)
def test_clean_fixture_passes(tmp_path, check):
    assert CHECKS[check](write_project(tmp_path)) == []


def test_kotlin_syntax_errors_reported_with_lines(tmp_path, syntax_tool):
    root = write_project(
        tmp_path,
        {
            "app/src/main/kotlin/dev/example/demo/Broken.kt": """
            package dev.example.demo

            fun f( {
            }
        """,
            "core/build.gradle.kts": ("plugins {", 'plugins {\n    id("x"'),
        },
    )
    problems = app_checks.kotlin_syntax(root, syntax_tool)
    broken = [p for p in problems if p.startswith("app/src/main/kotlin/dev/example/demo/Broken.kt:3:")]
    script = [p for p in problems if p.startswith("core/build.gradle.kts:3:")]  # `id("x"` goes on to line 3
    assert broken and "Expecting" in broken[0], problems
    assert script and "Expecting ')'" in script[0], problems
    # Android imports, unresolved here, and Gradle scripts (parsed as scripts) are syntactically fine.
    assert {p.split(":")[0] for p in problems} == {
        "app/src/main/kotlin/dev/example/demo/Broken.kt",
        "core/build.gradle.kts",
    }, problems


def test_kotlin_clean_fixture_parses(tmp_path, syntax_tool):
    root = write_project(tmp_path)
    (root / "build" / "generated").mkdir(parents=True)
    (root / "build" / "generated" / "Skipped.kt").write_text("fun broken( {")  # build/ folders are left out
    assert len(app_checks.kotlin_files(root)) == 8
    assert app_checks.kotlin_syntax(root, syntax_tool) == []


DEFECTS = [
    # (check, edits, expected problems: the start of each reported line)
    (
        "xml",
        {
            "app/src/main/res/layout/activity_main.xml": (
                'android:src="@drawable/ic_model" />',
                'android:src="@drawable/ic_model">',
            )
        },
        "app/src/main/res/layout/activity_main.xml:25:3: not well-formed XML: mismatched tag",
    ),
    (
        "xml",
        {"app/src/main/res/values/colors.xml": ("#FF3366CC</color>", "#FF3366CC</colour>")},
        "app/src/main/res/values/colors.xml:3:36: not well-formed XML: mismatched tag",
    ),
    (
        "xml",
        {"app/src/main/res/drawable/ic_model.xml": ('xmlns:android="http://schemas.android.com/apk/res/android"', "")},
        "app/src/main/res/drawable/ic_model.xml:1:1: not well-formed XML: unbound prefix",
    ),
    (
        "resources",
        {"app/src/main/kotlin/dev/example/demo/MainActivity.kt": ("R.string.model", "R.string.modle")},
        "app/src/main/kotlin/dev/example/demo/MainActivity.kt:18: R.string.modle: no string resource 'modle'",
    ),
    (
        "resources",
        {"app/src/main/kotlin/dev/example/demo/MainActivity.kt": ("R.layout.activity_main", "R.layout.activity_home")},
        "app/src/main/kotlin/dev/example/demo/MainActivity.kt:12: R.layout.activity_home: no layout resource",
    ),
    (
        "resources",
        {"app/src/main/kotlin/dev/example/demo/MainActivity.kt": ("R.id.run", "R.id.start")},
        "app/src/main/kotlin/dev/example/demo/MainActivity.kt:14: R.id.start: no id resource 'start'",
    ),
    (
        "resources",
        {
            "app/src/main/kotlin/dev/example/demo/MainActivity.kt": (
                "R.style.Theme_Demo_Result",
                "R.style.Theme_Material3_Dark",
            )
        },
        "app/src/main/kotlin/dev/example/demo/MainActivity.kt:20: R.style.Theme_Material3_Dark: no style",
    ),
    (
        "resources",
        {"app/src/main/res/values/strings.xml": ('<string name="run">Run</string>', "")},
        (
            "app/src/main/res/layout/activity_main.xml:19: @string/run: no string resource 'run'",
            "app/src/main/res/values/strings.xml:10: @string/run: no string resource 'run'",
        ),
    ),
    (
        "resources",
        {"app/src/main/res/drawable/ic_model.xml": None},
        (
            "app/src/main/kotlin/dev/example/demo/MainActivity.kt:23: R.drawable.ic_model: no drawable resource",
            "app/src/main/res/layout/activity_main.xml:24: @drawable/ic_model: no drawable resource",
            "app/src/main/res/mipmap-anydpi-v26/ic_launcher.xml:4: @drawable/ic_model: no drawable resource",
        ),
    ),
    (
        "resources",
        {
            "app/src/main/res/mipmap-anydpi-v26/ic_launcher.xml": None,
            "app/src/main/AndroidManifest.xml": ("@mipmap/ic_launcher", "@mipmap/ic_launcher_round"),
        },
        "app/src/main/AndroidManifest.xml:7: @mipmap/ic_launcher_round: no mipmap resource",
    ),
    (
        "resources",
        {"app/src/main/res/values/themes.xml": ("@color/brand", "@color/accent")},
        "app/src/main/res/values/themes.xml:4: @color/accent: no color resource 'accent'",
    ),
    (
        "resources",
        {
            "app/src/main/res/values/themes.xml": (
                'parent="Theme.Material3.DayNight.NoActionBar"',
                'parent="Theme.Material4.DayNight"',
            )
        },
        "app/src/main/res/values/themes.xml:3: style parent 'Theme.Material4.DayNight' is neither",
    ),
    (
        "manifest",
        {"app/src/main/AndroidManifest.xml": (".MainActivity", ".HomeActivity")},
        'app/src/main/AndroidManifest.xml:11: <activity android:name=".HomeActivity">: no class '
        "dev.example.demo.HomeActivity",
    ),
    (
        "manifest",
        {"app/src/main/AndroidManifest.xml": ("demo.bench.BenchActivity", "demo.BenchActivity")},
        'app/src/main/AndroidManifest.xml:17: <activity android:name="dev.example.demo.BenchActivity">',
    ),
    (
        "manifest",
        {"app/src/main/AndroidManifest.xml": (' android:exported="true">', ">")},
        "app/src/main/AndroidManifest.xml:11: <activity> has an <intent-filter> but no android:exported",
    ),
    (
        "manifest",
        {"app/src/main/AndroidManifest.xml": ('android:permission="android.permission.DUMP" />', "/>")},
        "app/src/main/AndroidManifest.xml:17: <activity> is exported with no <intent-filter> and no android:permission",
    ),
    (
        "manifest",
        {"app/src/main/AndroidManifest.xml": ("<manifest ", '<manifest package="dev.example.demo" ')},
        'app/src/main/AndroidManifest.xml:2: package="dev.example.demo" on <manifest>',
    ),
    (
        "manifest",
        {"app/build.gradle.kts": ('namespace = "dev.example.demo"', "")},
        "app/build.gradle.kts: no `namespace",
    ),
    (
        "formats",
        {"app/src/main/res/values/strings.xml": ("%1$.2f ms on %2$d threads", "%.2f ms on %d threads")},
        "app/src/main/res/values/strings.xml:5: '%.2f ms on %d threads' has 2 substitutions, not all positional",
    ),
    (
        "formats",
        {"app/src/main/res/values/strings.xml": (">Run<", ">Run %s on %1$s<")},
        "app/src/main/res/values/strings.xml:4: 'Run %s on %1$s' has 2 substitutions",
    ),
    (
        "formats",
        {"app/src/main/kotlin/dev/example/demo/MainActivity.kt": ("R.string.latency, 1.25, ", "R.string.latency, ")},
        "app/src/main/kotlin/dev/example/demo/MainActivity.kt:15: getString(R.string.latency, ...) passes 1 format "
        "arguments, the string (app/src/main/res/values/strings.xml:5) takes 2",
    ),
    (
        "gradle",
        {"app/build.gradle.kts": ("libs.androidx.core.ktx", "libs.androidx.core.ktz")},
        "app/build.gradle.kts:13: libs.androidx.core.ktz: no such alias in [libraries]",
    ),
    (
        "gradle",
        {"core/build.gradle.kts": ("libs.plugins.kotlin.jvm", "libs.plugins.kotlin.android")},
        "core/build.gradle.kts:2: libs.plugins.kotlin.android: no such alias in [plugins]",
    ),
    (
        "gradle",
        {"app/build.gradle.kts": ("libs.versions.compileSdk.get()", "libs.versions.targetSdk.get()")},
        "app/build.gradle.kts:7: libs.versions.targetSdk: no such alias in [versions]",
    ),
    (
        "gradle",
        {"gradle/libs.versions.toml": ('version.ref = "agp"', 'version.ref = "android-gradle"')},
        "gradle/libs.versions.toml:16: [plugins] android-application: version.ref 'android-gradle' is not in",
    ),
    (
        "gradle",
        {"gradle/libs.versions.toml": ('"material"]', '"material", "appcompat"]')},
        "gradle/libs.versions.toml:13: [bundles] ui: 'appcompat' is not in [libraries]",
    ),
    (
        "gradle",
        {"settings.gradle.kts": ('include(":app", ":core")', 'include(":app")')},
        "settings.gradle.kts: core/ has a build script but is not included",
    ),
    (
        "gradle",
        {"settings.gradle.kts": ('include(":app", ":core")', 'include(":app", ":core", ":bench")')},
        "settings.gradle.kts:5: includes :bench, but there is no bench/build.gradle.kts",
    ),
    (
        "gradle",
        {"gradle/wrapper/gradle-wrapper.properties": ("gradle-8.13-bin.zip", "gradle-latest.zip")},
        "gradle/wrapper/gradle-wrapper.properties:2: distributionUrl "
        "'https://services.gradle.org/distributions/gradle-latest.zip' is not",
    ),
    (
        "gradle",
        {"gradle/wrapper/gradle-wrapper.properties": ("distributionSha256Sum=", "# distributionSha256Sum=")},
        "gradle/wrapper/gradle-wrapper.properties: no distributionSha256Sum",
    ),
    (
        "gradle",
        {"README.md": ("`androidx.core:core-ktx:1.16.0`", "`androidx.core:core-ktx:1.15.0`")},
        "README.md: library androidx-core-ktx (gradle/libs.versions.toml:8) is not named as "
        "`androidx.core:core-ktx:1.16.0`",
    ),
    (
        "gradle",
        {"README.md": ("| JUnit | `junit:junit:4.13.2` |\n", "")},
        "README.md: library junit (gradle/libs.versions.toml:10) is not named as `junit:junit:4.13.2`",
    ),
    (
        "gradle",
        {"README.md": ("`org.jetbrains.kotlin.jvm` 2.2.0", "`org.jetbrains.kotlin.jvm` 2.1.0")},
        "README.md: plugin kotlin-jvm (gradle/libs.versions.toml:17) is not named as `org.jetbrains.kotlin.jvm` "
        "with its version 2.2.0",
    ),
    (
        "gradle",
        {"gradle.properties": ("android.useAndroidX=true", "")},
        "gradle.properties: android.useAndroidX=true is missing; AGP 8.12.0 fails on AndroidX dependencies",
    ),
]


@pytest.mark.parametrize(
    "check, edits, expected", DEFECTS, ids=[f"{check}-{i}" for i, (check, _, _) in enumerate(DEFECTS)]
)
def test_defect_is_reported(tmp_path, check, edits, expected):
    problems = CHECKS[check](write_project(tmp_path, edits))
    expected = (expected,) if isinstance(expected, str) else expected
    assert len(problems) == len(expected), "\n".join(problems)
    for problem, start in zip(problems, expected):
        assert problem.startswith(start), "\n".join(problems)


def test_mask_kotlin_keeps_code_and_templates():
    code = 'val a = "R.string.x ${f(R.string.y, "}")} $b" // R.string.z\n/* /* R.id.q */ */ val c = \'"\''
    masked = app_checks.mask_kotlin(code)
    assert len(masked) == len(code) and masked.count("\n") == 1
    assert "R.string.y" in masked and "R.string.x" not in masked and "R.string.z" not in masked
    assert "R.id.q" not in masked and masked.endswith("val c = ' '")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("%1$s and %2$d", (2, False, False)),
        ("%s", (1, True, False)),
        ("100%% sure", (0, False, False)),
        ("%s and %d", (2, True, False)),
        ("%1$s %<s", (2, True, False)),
        ("50 % and 20 % off", (2, True, False)),
        ("%5d items%n", (1, True, False)),
        ("%H:%M", (2, True, True)),
        ("trailing %", (0, False, False)),
        # aapt2's own cases: %09.34f and "%9$.34f %8$" pass, "%09$f %f" and "%09f %08s" fail.
        ("%09.34f", (1, True, False)),
        ("%9$.34f %8$", (2, False, False)),
        ("%09$f %f", (2, True, False)),
        ("%09f %08s", (2, True, False)),
    ],
)
def test_format_arguments_follow_aapt2(value, expected):
    assert app_checks.format_arguments(value) == expected


# --------------------------------------------------------------------------------------------------
# The real android_demo/


def test_android_demo_kotlin_parses(syntax_tool):
    assert app_checks.kotlin_files(ANDROID_DEMO), "no Kotlin files found under android_demo/"
    problems = app_checks.kotlin_syntax(ANDROID_DEMO, syntax_tool)
    assert not problems, "Kotlin syntax errors:\n" + "\n".join(problems)


@pytest.mark.parametrize("check", CHECKS)
def test_android_demo(check):
    problems = CHECKS[check](ANDROID_DEMO)
    assert not problems, f"{check} problems in android_demo/:\n" + "\n".join(problems)
