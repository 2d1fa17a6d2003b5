"""Static checks of the Android demo's sources, for a project that cannot be built here.

Every check takes the Gradle project's root folder (android_demo/) and returns a list of problems,
one string each, `path:line: what is wrong` with the path relative to that folder; an empty list
means the check passed. tests/test_android_app_static.py runs them on small fixture projects (to
show that each one fails when it should) and on the real android_demo/.

The checks read text; they resolve nothing outside the project. What they know of libraries is
written down here: the style name prefixes that Material Components and AppCompat define
(LIBRARY_STYLE_PREFIXES).
"""

from __future__ import annotations

import bisect
import dataclasses
import os
import pathlib
import re
import tomllib
from collections.abc import Iterator, Sequence
from xml.parsers import expat

from . import kotlin_tools

# --------------------------------------------------------------------------------------------------
# Files

SKIPPED_DIRS = {"build"}  # and every hidden folder: .gradle, .idea, .kotlin


def project_files(root: pathlib.Path, *suffixes: str) -> list[pathlib.Path]:
    """Files under root whose names end with one of suffixes, outside build/ and hidden folders, sorted."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".")]
        found += [pathlib.Path(folder, name) for name in files if name.endswith(suffixes)]
    return sorted(found)


def kotlin_files(root: pathlib.Path) -> list[pathlib.Path]:
    """Every *.kt and *.kts (Gradle scripts included) of the project."""
    return project_files(root, ".kt", ".kts")


def kotlin_syntax(root: pathlib.Path, tool: Sequence[str]) -> list[str]:
    """Every .kt and .kts parses with the Kotlin compiler's parser (KotlinSyntax.kt; no resolution, so
    unresolved Android imports are fine): `path:line:column: error` for each syntax error."""
    return kotlin_tools.syntax_errors(tool, root, kotlin_files(root))


def modules(root: pathlib.Path) -> list[pathlib.Path]:
    """Folders below root with a Gradle build script: the project's modules."""
    scripts = project_files(root, "build.gradle.kts", "build.gradle")
    return sorted({s.parent for s in scripts if s.name in ("build.gradle.kts", "build.gradle") and s.parent != root})


def android_modules(root: pathlib.Path) -> list[pathlib.Path]:
    """Modules with an AndroidManifest.xml or resources in one of their source sets."""
    return [m for m in modules(root) if list(m.glob("src/*/AndroidManifest.xml")) + list(m.glob("src/*/res"))]


class Text:
    """A file's text with offsets turned into 1-based line numbers."""

    def __init__(self, root: pathlib.Path, path: pathlib.Path):
        self.name = path.relative_to(root).as_posix()
        self.text = path.read_text(encoding="utf-8")
        self.starts = [0] + [m.end() for m in re.finditer("\n", self.text)]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)

    def at(self, offset: int) -> str:
        return f"{self.name}:{self.line(offset)}"


# --------------------------------------------------------------------------------------------------
# Kotlin as text: comments and string literals blanked, so that what the regular expressions see is code


def mask_kotlin(text: str) -> str:
    """text with comments and the literal parts of strings and chars replaced by spaces.

    Newlines and offsets are kept, and so is the code of string templates (`"${getString(R.string.x)}"`),
    so a match in the masked text is code at the same place in the original.
    """
    out = list(text)
    n = len(text)

    def blank(start: int, end: int) -> None:
        for k in range(start, min(end, n)):
            if out[k] != "\n":
                out[k] = " "

    def code(i: int, template: bool) -> int:
        depth = 0
        while i < n:
            if text.startswith("//", i):
                end = text.find("\n", i)
                end = n if end < 0 else end
                blank(i, end)
                i = end
            elif text.startswith("/*", i):  # Kotlin block comments nest
                end, nesting = i + 2, 1
                while end < n and nesting:
                    if text.startswith("/*", end):
                        nesting, end = nesting + 1, end + 2
                    elif text.startswith("*/", end):
                        nesting, end = nesting - 1, end + 2
                    else:
                        end += 1
                blank(i, end)
                i = end
            elif text.startswith('"""', i):
                i = string(i + 3, raw=True)
            elif text[i] == '"':
                i = string(i + 1, raw=False)
            elif text[i] == "'":
                end = text.find("'", i + 3 if text.startswith("\\", i + 1) else i + 2)
                end = n if end < 0 else end
                blank(i + 1, end)
                i = end + 1
            elif text[i] == "{":
                depth += 1
                i += 1
            elif text[i] == "}":
                if template and depth == 0:
                    return i + 1
                depth -= 1
                i += 1
            else:
                i += 1
        return i

    def string(i: int, raw: bool) -> int:
        while i < n:
            if raw and text.startswith('"""', i):
                end = i
                while end < n and text[end] == '"':  # """a"""" ends with the last three quotes
                    end += 1
                blank(i, end - 3)
                return end
            if not raw and text[i] == '"':
                return i + 1
            if not raw and text[i] == "\n":  # unterminated: the parse check reports it
                return i
            if text.startswith("${", i):
                i = code(i + 2, template=True)
            elif not raw and text[i] == "\\":
                blank(i, i + 2)
                i += 2
            else:
                blank(i, i + 1)
                i += 1
        return i

    code(0, template=False)
    return "".join(out)


def kotlin_sources(root: pathlib.Path, folder: pathlib.Path) -> Iterator[tuple[Text, str]]:
    """(file, masked code) for every .kt file under folder."""
    for path in project_files(folder, ".kt"):
        source = Text(root, path)
        yield source, mask_kotlin(source.text)


DECLARATION = re.compile(
    r"^(?:@[\w.]+(?:\([^)\n]*\))?\s+)*"
    r"(?:(?:public|internal|private|open|abstract|sealed|data|final|enum|annotation|value|inner)\s+)*"
    r"(?:class|object|interface)\s+(\w+)",
    re.MULTILINE,
)
PACKAGE = re.compile(r"^\s*package\s+([\w.]+)", re.MULTILINE)


def declared_classes(root: pathlib.Path) -> set[str]:
    """Fully qualified names of the top-level classes, objects and interfaces in the project's Kotlin."""
    names = set()
    for _, code in kotlin_sources(root, root):
        package = PACKAGE.search(code)
        prefix = package.group(1) + "." if package else ""
        names.update(prefix + m.group(1) for m in DECLARATION.finditer(code))
    return names


# --------------------------------------------------------------------------------------------------
# XML with line numbers

NAMESPACES = {
    "http://schemas.android.com/apk/res/android": "android",
    "http://schemas.android.com/tools": "tools",
    "http://schemas.android.com/apk/res-auto": "app",
}


@dataclasses.dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    line: int
    attr_lines: dict[str, int]  # the line of each attribute's value
    children: list[Element] = dataclasses.field(default_factory=list)
    text: str = ""  # all character data inside, children's included

    def iter(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            yield from child.iter()


class XmlError(Exception):
    def __init__(self, line: int, column: int, message: str):
        super().__init__(f"{line}:{column}: {message}")
        self.line, self.column, self.message = line, column, message


def parse_xml(path: pathlib.Path) -> Element:
    """The document's root element; raises XmlError for XML that is not well-formed.

    Namespaces are processed (an unbound prefix such as `android:` without its xmlns is an error,
    as it is for aapt2), and the Android ones are written back as `android:x`, `tools:x`, `app:x`.
    """

    def name(raw: str) -> str:
        uri, _, local = raw.rpartition(" ")
        return local if not uri else f"{NAMESPACES.get(uri, '{' + uri + '}')}:{local}"

    data = path.read_bytes()
    newlines = [m.start() for m in re.finditer(b"\n", data)]
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    stack: list[Element] = []
    top: list[Element] = []

    def start(tag, attrs):
        lines = {}
        for key, value in attrs.items():  # the value's first occurrence after the tag's start
            found = data.find(value.encode(), parser.CurrentByteIndex)
            lines[name(key)] = bisect.bisect_left(newlines, found) + 1 if found >= 0 else parser.CurrentLineNumber
        element = Element(name(tag), {name(k): v for k, v in attrs.items()}, parser.CurrentLineNumber, lines)
        (stack[-1].children if stack else top).append(element)
        stack.append(element)

    def text(chunk):
        for element in stack:
            element.text += chunk

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: stack.pop()
    parser.CharacterDataHandler = text
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise XmlError(error.lineno, error.offset + 1, expat.ErrorString(error.code)) from None
    return top[0]


def xml_documents(root: pathlib.Path, files: list[pathlib.Path]) -> Iterator[tuple[str, Element]]:
    """(relative path, root element) of each well-formed file; xml_problems reports the others."""
    for path in files:
        try:
            yield path.relative_to(root).as_posix(), parse_xml(path)
        except XmlError:
            continue


def xml_problems(root: pathlib.Path) -> list[str]:
    """Every *.xml of the project (manifests, resources, anything else) is well-formed XML."""
    problems = []
    for path in project_files(root, ".xml"):
        try:
            parse_xml(path)
        except XmlError as error:
            problems.append(
                f"{path.relative_to(root).as_posix()}:{error.line}:{error.column}: not well-formed XML: {error.message}"
            )
    return problems


# --------------------------------------------------------------------------------------------------
# Resources

# R.<type> fields and @<type>/ references that the checks resolve.
RESOURCE_TYPES = (
    "string",
    "layout",
    "id",
    "drawable",
    "mipmap",
    "color",
    "dimen",
    "style",
    "xml",
    "menu",
    "array",
    "integer",
    "bool",
    "plurals",
    "raw",
    "anim",
    "animator",
    "font",
    "fraction",
    "interpolator",
    "transition",
    "navigation",
)
# res/<type>[-qualifiers]/<name>.<ext> defines <type>/<name>.
FILE_TYPES = (
    "layout",
    "drawable",
    "mipmap",
    "xml",
    "menu",
    "raw",
    "anim",
    "animator",
    "font",
    "color",
    "interpolator",
    "transition",
    "navigation",
)
# values*/ elements and the type they define (<item type="..."> names its own).
VALUE_TYPES = {
    "string": "string",
    "color": "color",
    "dimen": "dimen",
    "style": "style",
    "string-array": "array",
    "integer-array": "array",
    "array": "array",
    "integer": "integer",
    "bool": "bool",
    "plurals": "plurals",
    "fraction": "fraction",
    "drawable": "drawable",
    "attr": "attr",
    "declare-styleable": "styleable",
}
# Styles from Material Components and AppCompat (com.google.android.material:material brings both),
# and the SplashScreen compat library; XML may name them (`parent="Theme.Material3.DayNight"`,
# `style="@style/Widget.Material3.Button"`), the app's own R class does not have them.
LIBRARY_STYLE_PREFIXES = (
    "Theme.Material3.",
    "ThemeOverlay.Material3.",
    "Widget.Material3.",
    "TextAppearance.Material3.",
    "ShapeAppearance.Material3.",
    "ShapeAppearanceOverlay.Material3.",
    "MaterialAlertDialog.Material3",
    "Theme.MaterialComponents.",
    "ThemeOverlay.MaterialComponents.",
    "Widget.MaterialComponents.",
    "TextAppearance.MaterialComponents.",
    "Theme.AppCompat.",
    "ThemeOverlay.AppCompat.",
    "Widget.AppCompat.",
    "TextAppearance.AppCompat.",
    "Theme.SplashScreen",
)
XML_REFERENCE = re.compile(r"@(\+)?(\*?[\w.]+:)?(\w+)/([\w.]+)")
KOTLIN_REFERENCE = re.compile(r"(?<![\w.])((?:[A-Za-z_]\w*\.)*)R\.(" + "|".join(RESOURCE_TYPES) + r")\.(\w+)\b")
# On masked code, where a string literal's content is blanked: read the content from the original.
NAMESPACE = re.compile(r'\bnamespace\s*=\s*"( +)"')


def resource_key(name: str) -> str:
    """The R field name: `Theme.App` is R.style.Theme_App."""
    return name.replace(".", "_")


def is_library_style(name: str) -> bool:
    return any(resource_key(name).startswith(resource_key(prefix)) for prefix in LIBRARY_STYLE_PREFIXES)


def res_files(module: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in module.glob("src/*/res/*/*") if p.is_file())


def namespace(module: pathlib.Path) -> str | None:
    """The module's `namespace = "..."` from its build.gradle.kts."""
    script = module / "build.gradle.kts"
    if not script.exists():
        return None
    text = script.read_text(encoding="utf-8")
    found = NAMESPACE.search(mask_kotlin(text))
    return text[found.start(1) : found.end(1)] if found else None


@dataclasses.dataclass
class Resources:
    """A module's resources: type -> R field name -> where it is defined."""

    defined: dict[str, dict[str, str]]
    values: dict[str, Element]  # string name -> its <string> element, for format checks
    values_at: dict[str, str]  # string name -> where it is defined

    def has(self, kind: str, name: str, library: bool) -> bool:
        if resource_key(name) in self.defined.get(kind, {}):
            return True
        return library and kind == "style" and is_library_style(name)


def collect_resources(root: pathlib.Path, module: pathlib.Path) -> Resources:
    defined: dict[str, dict[str, str]] = {}
    values: dict[str, Element] = {}
    values_at: dict[str, str] = {}

    def define(kind: str, name: str, where: str) -> None:
        defined.setdefault(kind, {}).setdefault(resource_key(name), where)

    for path in res_files(module):
        kind = path.parent.name.split("-")[0]
        where = path.relative_to(root).as_posix()
        if kind in FILE_TYPES:
            define(kind, path.name.split(".")[0], where)
        if path.suffix != ".xml":
            continue
        for _, document in xml_documents(root, [path]):
            for element in document.iter():
                for value in [*element.attrs.values(), element.text.strip()]:
                    reference = XML_REFERENCE.fullmatch(value)
                    if reference and reference.group(1) and reference.group(3) == "id":
                        define("id", reference.group(4), f"{where}:{element.line}")
            if kind != "values" or document.tag != "resources":
                continue
            for element in document.children:
                name = element.attrs.get("name")
                value_kind = element.attrs.get("type") if element.tag == "item" else VALUE_TYPES.get(element.tag)
                if name and value_kind:
                    define(value_kind, name, f"{where}:{element.line}")
                if name and element.tag == "string":
                    values.setdefault(name, element)
                    values_at.setdefault(name, f"{where}:{element.line}")
                if element.tag == "declare-styleable":
                    for attr in element.children:
                        if attr.tag == "attr" and "name" in attr.attrs:
                            define("attr", attr.attrs["name"], f"{where}:{attr.line}")
    return Resources(defined, values, values_at)


def transitive_r_class(root: pathlib.Path) -> bool:
    """gradle.properties turns off non-transitive R classes: the app's R then has library resources too."""
    properties = root / "gradle.properties"
    return properties.exists() and bool(
        re.search(r"^\s*android\.nonTransitiveRClass\s*=\s*false\s*$", properties.read_text(), re.MULTILINE)
    )


def resource_problems(root: pathlib.Path) -> list[str]:
    """Every resource the Kotlin code (`R.string.x`) and the XML (`@string/x`) names is defined.

    Definitions: values*/ elements, res/<type>[-qualifiers]/<name>.<ext> files, `@+id/` anywhere in
    the module's resources. XML may also name library styles (LIBRARY_STYLE_PREFIXES), also as
    `<style parent="...">`; the app's R class has only its own resources (AGP's non-transitive R).
    Skipped: `@android:...`, `?attr/...`, tools: attributes, R classes other than the module's own.
    """
    problems = []
    library_r = transitive_r_class(root)
    for module in android_modules(root):
        resources = collect_resources(root, module)
        where = f"{module.relative_to(root).as_posix()}/src/*/res"
        own = namespace(module)
        for source, code in kotlin_sources(root, module / "src"):
            for m in KOTLIN_REFERENCE.finditer(code):
                qualifier, kind, name = m.group(1).rstrip("."), m.group(2), m.group(3)
                if qualifier and qualifier != own:
                    continue  # android.R, com.google.android.material.R: other libraries' resources
                if not resources.has(kind, name, library=library_r):
                    problems.append(f"{source.at(m.start())}: R.{kind}.{name}: no {kind} resource {name!r} in {where}")
        xml = [p for p in res_files(module) if p.suffix == ".xml"] + sorted(module.glob("src/*/AndroidManifest.xml"))
        for name, document in xml_documents(root, xml):
            problems += xml_reference_problems(name, document, resources, where)
    return problems


def xml_reference_problems(name: str, document: Element, resources: Resources, where: str) -> list[str]:
    problems = []
    for element in document.iter():
        values = [(k, v) for k, v in element.attrs.items() if not k.startswith("tools:")]
        if not element.children:
            values.append(("text", element.text.strip()))
        for attribute, value in values:
            line = element.attr_lines.get(attribute, element.line)
            reference = XML_REFERENCE.fullmatch(value)
            if reference:
                plus, package, kind, target = reference.groups()
                if plus or package or kind not in RESOURCE_TYPES:
                    continue
                if not resources.has(kind, target, library=True):
                    problems.append(f"{name}:{line}: @{kind}/{target}: no {kind} resource {target!r} in {where}")
            elif element.tag == "style" and attribute == "parent" and value and not value.startswith("android:"):
                if not resources.has("style", value, library=True):
                    problems.append(
                        f"{name}:{line}: style parent {value!r} is neither a style in "
                        f"{where} nor a library style (LIBRARY_STYLE_PREFIXES)"
                    )
    return problems


# --------------------------------------------------------------------------------------------------
# Manifest

COMPONENTS = ("application", "activity", "activity-alias", "service", "receiver", "provider")


def manifest_problems(root: pathlib.Path) -> list[str]:
    """Each Android module's manifest against its sources and the rules of AGP 8 and later.

    - the module's build.gradle.kts sets `namespace`, and the manifest has no `package` (AGP 8+
      takes the namespace from the build script only);
    - every component (`<application>`, `<activity>`, `<service>`, ...) whose android:name starts
      with `.` or the namespace (or has no dot) is a class declared in the project's Kotlin;
    - a component with an `<intent-filter>` sets android:exported (required from Android 12 on);
    - an exported component without one (reached by its explicit name: a tool's entry point, such as
      a benchmark activity adb starts) names an android:permission, or every app on the phone can
      start it.
    """
    problems = []
    classes = declared_classes(root)
    for module in android_modules(root):
        own = namespace(module)
        if own is None:
            problems.append(
                f'{module.relative_to(root).as_posix()}/build.gradle.kts: no `namespace = "..."` '
                "(AGP 8+ needs it to generate R and to resolve `.Name` in the manifest)"
            )
        for name, manifest in xml_documents(root, sorted(module.glob("src/*/AndroidManifest.xml"))):
            if "package" in manifest.attrs:
                problems.append(
                    f'{name}:{manifest.line}: package="{manifest.attrs["package"]}" on <manifest>: '
                    "AGP 8+ rejects it; set `namespace` in build.gradle.kts instead"
                )
            for element in manifest.iter():
                if element.tag not in COMPONENTS:
                    continue
                filtered = any(child.tag == "intent-filter" for child in element.children)
                if filtered and "android:exported" not in element.attrs:
                    problems.append(
                        f"{name}:{element.line}: <{element.tag}> has an <intent-filter> but no "
                        "android:exported (required when targeting Android 12+)"
                    )
                exported = element.attrs.get("android:exported") == "true"
                if (
                    exported
                    and not filtered
                    and element.tag != "application"
                    and "android:permission" not in element.attrs
                ):
                    problems.append(
                        f"{name}:{element.line}: <{element.tag}> is exported with no <intent-filter> and no "
                        "android:permission: any app can start it by name (guard it, e.g. "
                        'android:permission="android.permission.DUMP" for one adb starts)'
                    )
                for attribute in ("android:name", "android:targetActivity"):
                    value = element.attrs.get(attribute, "")
                    full = component_class(value, own)
                    if full and full not in classes:
                        line = element.attr_lines[attribute]
                        problems.append(
                            f'{name}:{line}: <{element.tag} {attribute}="{value}">: no class {full} '
                            "in the Kotlin sources"
                        )
    return problems


def component_class(value: str, own: str | None) -> str | None:
    """The class a manifest name means, if it is the app's own (`.X`, `X`, `<namespace>.X`)."""
    if not value or own is None:
        return None
    if value.startswith("."):
        return own + value
    if "." not in value:
        return f"{own}.{value}"
    return value if value.startswith(own + ".") else None


# --------------------------------------------------------------------------------------------------
# String formats


def format_arguments(value: str) -> tuple[int, bool, bool]:
    """(argument count, any argument non-positional, a Time.format() string) of a string resource.

    The reading aapt2 gives a <string> (its VerifyJavaStringFormat): `%%` and `%n` take no
    argument; `%1$s` is positional; `%s`, `%<s`, `%5d` and a lone `% ` are not; a conversion of
    DFKMWZkmwyz right after the flags means a Time.format() string, which is not checked.
    """
    count, nonpositional, i, end = 0, False, 0, len(value)
    while i < end:
        if value[i] == "%" and i + 1 < end:
            i += 1
            if value[i] in "%n":
                i += 1
                continue
            count += 1
            digits = len(re.match(r"\d*", value[i:]).group())
            if digits:
                i += digits
                nonpositional |= i < end and value[i] != "$"
            elif value[i] == "<":  # the previous argument again
                nonpositional = True
                i += 2 if value[i + 1 : i + 2] == "$" else 1
            else:
                nonpositional = True
            while i < end and value[i] in "-#+ ,(0123456789":
                i += 1
            if i < end and value[i] in "DFKMWZkmwyz":
                return count, nonpositional, True
        i += 1
    return count, nonpositional, False


def expected_arguments(value: str) -> int:
    """How many arguments String.format needs for value (the highest position, or the count)."""
    positions = [int(m.group(1)) for m in re.finditer(r"%(\d+)\$", value.replace("%%", ""))]
    count, nonpositional, _ = format_arguments(value)
    return count if nonpositional or not positions else max(positions)


def call_arguments(code: str, open_paren: int) -> list[str] | None:
    """The top-level arguments of the call whose `(` is at open_paren (code masked), or None if unclosed."""
    args, depth, start = [], 0, open_paren + 1
    for i in range(open_paren, len(code)):
        c = code[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                last = code[start:i].strip()
                return args + [last] if last else args  # f() has none; f(a, b,) a trailing comma
        elif c == "," and depth == 1:
            args.append(code[start:i].strip())
            start = i + 1
    return None


GET_STRING = re.compile(r"\bgetString\s*\(")


def string_format_problems(root: pathlib.Path) -> list[str]:
    """String resources are valid format strings, and getString(R.string.x, args) passes what x needs.

    - aapt2 rejects a <string> with more than one substitution when any of them is non-positional
      (`%s and %d`), unless it says formatted="false" or translatable="false";
    - `getString(R.string.x, a, b)` in Kotlin passes as many arguments as x's format needs
      (a call without arguments returns the text unformatted, and is not checked).
    """
    problems = []
    for module in android_modules(root):
        resources = collect_resources(root, module)
        values = [p for p in res_files(module) if p.parent.name.startswith("values")]
        for name, document in xml_documents(root, values):
            for element in document.children:
                flags = {element.attrs.get("formatted"), element.attrs.get("translatable")}
                count, nonpositional, time_format = format_arguments(element.text)
                if element.tag != "string" or "false" in flags or count < 2 or not nonpositional or time_format:
                    continue
                problems.append(
                    f"{name}:{element.line}: {element.text.strip()!r} has {count} substitutions, "
                    "not all positional: aapt2 rejects it; write %1$s, %2$d, ... "
                    '(or formatted="false")'
                )
        for source, code in kotlin_sources(root, module / "src"):
            for m in GET_STRING.finditer(code):
                args = call_arguments(code, m.end() - 1)
                if not args:
                    continue
                resource = re.fullmatch(r"R\.string\.(\w+)", args[0])
                element = resources.values.get(resource.group(1)) if resource else None
                if element is None or len(args) == 1 or any(a.startswith("*") for a in args[1:]):
                    continue
                needed = expected_arguments(element.text)
                if needed != len(args) - 1:
                    problems.append(
                        f"{source.at(m.start())}: getString(R.string.{resource.group(1)}, ...) passes "
                        f"{len(args) - 1} format arguments, the string "
                        f"({resources.values_at[resource.group(1)]}) takes {needed}"
                    )
    return problems


# --------------------------------------------------------------------------------------------------
# Gradle

CATALOG = "gradle/libs.versions.toml"
WRAPPER = "gradle/wrapper/gradle-wrapper.properties"
DISTRIBUTION = re.compile(r"https://services\.gradle\.org/distributions/gradle-\d+\.\d+(\.\d+)?-(bin|all)\.zip")
LIBS = re.compile(r"(?<![\w.])libs((?:\s*\.\s*\w+)+)(\s*\()?")
INCLUDE = re.compile(r"\binclude\s*\(([^)]*)\)")
LITERAL = re.compile(r'"( *)"')  # a string literal in masked code: its content is blanked


def accessor(alias: str) -> str:
    """The Kotlin DSL accessor path of a catalog alias: `androidx-core_ktx` is `androidx.core.ktx`."""
    return re.sub(r"[-_.]", ".", alias)


@dataclasses.dataclass
class Catalog:
    """gradle/libs.versions.toml, resolved: alias -> coordinates and version."""

    libraries: dict[str, tuple[str, str | None]]  # alias -> ("group:name", version or None)
    plugins: dict[str, tuple[str, str | None]]  # alias -> (plugin id, version or None)
    bundles: set[str]
    versions: set[str]
    problems: list[str]
    lines: dict[tuple[str, str], int]  # (table, alias) -> line in the file

    def at(self, table: str, alias: str) -> str:
        return f"{CATALOG}:{self.lines.get((table, alias), 1)}"


def read_catalog(root: pathlib.Path) -> Catalog:
    catalog = Catalog({}, {}, set(), set(), [], {})
    path = root / CATALOG
    if not path.exists():
        catalog.problems.append(f"{CATALOG}: missing (the build scripts' `libs.` accessors come from it)")
        return catalog
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        catalog.problems.append(f"{CATALOG}: not valid TOML: {error}")
        return catalog
    table = ""
    for number, line in enumerate(text.splitlines(), 1):
        header = re.match(r"\s*\[\s*([\w-]+)\s*\]", line)
        key = re.match(r'\s*"?([\w.-]+?)"?\s*=', line)
        if header:
            table = header.group(1)
        elif key:
            catalog.lines.setdefault((table, key.group(1)), number)
    versions = data.get("versions", {})
    catalog.versions = set(versions)

    def version(kind: str, alias: str, value) -> str | None:
        if isinstance(value, dict) and "ref" in value:
            if value["ref"] not in versions:
                catalog.problems.append(
                    f"{catalog.at(kind, alias)}: [{kind}] {alias}: version.ref {value['ref']!r} is not in [versions]"
                )
            value = versions.get(value["ref"])
        if isinstance(value, dict):  # rich version: { strictly = "...", prefer = "..." }
            value = value.get("strictly") or value.get("require") or value.get("prefer")
        return value if isinstance(value, str) else None

    for alias, entry in data.get("libraries", {}).items():
        if isinstance(entry, str):
            group, _, rest = entry.partition(":")
            name, _, pinned = rest.partition(":")
            module, entry = f"{group}:{name}", {"version": pinned or None}
        else:
            module = entry.get("module") or f"{entry.get('group')}:{entry.get('name')}"
        if not re.fullmatch(r"[\w.-]+:[\w.-]+", module):
            catalog.problems.append(
                f"{catalog.at('libraries', alias)}: [libraries] {alias}: {module!r} is not group:name"
            )
        catalog.libraries[alias] = (module, version("libraries", alias, entry.get("version")))
    for alias, entry in data.get("plugins", {}).items():
        if isinstance(entry, str):
            plugin_id, _, pinned = entry.partition(":")
            entry = {"id": plugin_id, "version": pinned or None}
        catalog.plugins[alias] = (entry.get("id", ""), version("plugins", alias, entry.get("version")))
    for alias, members in data.get("bundles", {}).items():
        catalog.bundles.add(alias)
        for member in members:
            if member not in catalog.libraries:
                catalog.problems.append(
                    f"{catalog.at('bundles', alias)}: [bundles] {alias}: {member!r} is not in [libraries]"
                )
    return catalog


def catalog_problems(root: pathlib.Path) -> list[str]:
    """The version catalog resolves, and every `libs.x` in the build scripts names one of its aliases.

    `libs.a.b.c` is a library, `libs.plugins.x` a plugin (`alias(libs.plugins.x)`), `libs.bundles.x`
    a bundle, `libs.versions.x` a version; `-`, `_` and `.` in aliases all become `.` in accessors.
    """
    catalog = read_catalog(root)
    problems = list(catalog.problems)
    kinds = {
        "plugins": {accessor(a) for a in catalog.plugins},
        "bundles": {accessor(a) for a in catalog.bundles},
        "versions": {accessor(a) for a in catalog.versions},
    }
    libraries = {accessor(a) for a in catalog.libraries}
    for path in project_files(root, ".gradle.kts"):
        source = Text(root, path)
        for m in LIBS.finditer(mask_kotlin(source.text)):
            segments = re.sub(r"\s", "", m.group(1)).strip(".").split(".")
            if m.group(2):  # libs.versions.x.get(), libs.a.b.asProvider(): the last one is a method
                segments = segments[:-1]
            if not segments:
                continue
            kind, known = (segments[0], kinds[segments[0]]) if segments[0] in kinds else ("libraries", libraries)
            alias_path = ".".join(segments[1:] if kind != "libraries" else segments)
            if alias_path not in known:
                shown = "libs." + ".".join(segments)
                problems.append(f"{source.at(m.start())}: {shown}: no such alias in [{kind}] of {CATALOG}")
    return problems


def settings_problems(root: pathlib.Path) -> list[str]:
    """settings.gradle.kts includes exactly the folders that have a build script."""
    path = root / "settings.gradle.kts"
    if not path.exists():
        return ["settings.gradle.kts: missing"]
    source = Text(root, path)
    masked = mask_kotlin(source.text)
    included = {}
    for m in INCLUDE.finditer(masked):
        for literal in LITERAL.finditer(masked, m.start(1), m.end(1)):
            name = source.text[literal.start(1) : literal.end(1)]
            included[name.lstrip(":").replace(":", "/")] = source.at(literal.start())
    problems = []
    folders = {module.relative_to(root).as_posix() for module in modules(root)}
    for folder in sorted(folders - set(included)):
        problems.append(
            f"settings.gradle.kts: {folder}/ has a build script but is not included "
            f'(include(":{folder.replace("/", ":")}"))'
        )
    for folder in sorted(set(included) - folders):
        problems.append(
            f"{included[folder]}: includes :{folder.replace('/', ':')}, but there is no {folder}/build.gradle.kts"
        )
    return problems


def wrapper_problems(root: pathlib.Path) -> list[str]:
    """gradle-wrapper.properties names a Gradle distribution from services.gradle.org and pins its SHA-256."""
    path = root / WRAPPER
    if not path.exists():
        return [f"{WRAPPER}: missing"]
    lines = path.read_text(encoding="utf-8").splitlines()
    if not any(re.fullmatch(r"distributionSha256Sum=[0-9a-f]{64}", line.strip()) for line in lines):
        return [f"{WRAPPER}: no distributionSha256Sum=<64 hex digits>: the wrapper would run any download unchecked"]
    for number, line in enumerate(lines, 1):
        key, _, value = line.partition("=")
        if key.strip() == "distributionUrl":
            url = value.strip().replace("\\:", ":").replace("\\=", "=")
            if DISTRIBUTION.fullmatch(url):
                return []
            return [
                f"{WRAPPER}:{number}: distributionUrl {url!r} is not "
                "https://services.gradle.org/distributions/gradle-X.Y[.Z]-bin.zip (or -all.zip)"
            ]
    return [f"{WRAPPER}: no distributionUrl"]


def properties_problems(root: pathlib.Path) -> list[str]:
    """AndroidX libraries need android.useAndroidX=true in gradle.properties (before AGP 9, whose default it is)."""
    catalog = read_catalog(root)
    agp = [v for plugin_id, v in catalog.plugins.values() if plugin_id.startswith("com.android.") and v]
    androidx = [m for m, _ in catalog.libraries.values() if m.startswith(("androidx.", "com.google.android.material:"))]
    if not androidx or not agp or int(re.match(r"\d*", agp[0]).group() or 0) >= 9:
        return []
    path = root / "gradle.properties"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if re.search(r"^\s*android\.useAndroidX\s*=\s*true\s*$", text, re.MULTILINE):
        return []
    return [
        f"gradle.properties: android.useAndroidX=true is missing; AGP {agp[0]} fails on AndroidX "
        f"dependencies ({androidx[0]}, ...) without it"
    ]


def mentions(text: str, word: str) -> bool:
    """text has word as a whole: `1.2.0` is not in `1.2.01` or `1.2.0.1`, but is in `1.2.0.` (a sentence)."""
    return bool(re.search(rf"(?<![\w.:-]){re.escape(word)}(?![\w:-]|\.\w)", text))


def readme_problems(root: pathlib.Path) -> list[str]:
    """README.md names every catalog library as group:name:version and every plugin id with its version."""
    catalog = read_catalog(root)
    path = root / "README.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    problems = []
    for alias, (module, version) in sorted(catalog.libraries.items()):
        coordinates = f"{module}:{version}" if version else module
        if not mentions(text, coordinates):
            problems.append(
                f"README.md: library {alias} ({catalog.at('libraries', alias)}) is not named as `{coordinates}`"
            )
    for alias, (plugin_id, version) in sorted(catalog.plugins.items()):
        lines = [line for line in text.splitlines() if mentions(line, plugin_id)]
        if not any(version is None or mentions(line, version) for line in lines):
            problems.append(
                f"README.md: plugin {alias} ({catalog.at('plugins', alias)}) is not named as "
                f"`{plugin_id}` with its version {version} on one line"
            )
    return problems


def gradle_problems(root: pathlib.Path) -> list[str]:
    """All the Gradle wiring checks together."""
    return (
        catalog_problems(root)
        + settings_problems(root)
        + wrapper_problems(root)
        + properties_problems(root)
        + readme_problems(root)
    )
