"""kotlinc and java for the tests: finding them, building once per source version, the syntax check.

Used by tests/test_android_core.py (the core's unit tests) and tests/test_android_app_static.py
(KotlinSyntax.kt, a parse-only check of every Kotlin file of android_demo/).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pathlib
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NPM_KOTLINC = ROOT / ".kotlin" / "node_modules" / "kotlin-compiler" / "bin" / "kotlinc"
SYNTAX_SOURCE = pathlib.Path(__file__).resolve().parent / "KotlinSyntax.kt"
INSTALL_HINT = "set KOTLINC or run `npm install --prefix .kotlin kotlin-compiler@2.4.20`"


def find_kotlinc() -> str | None:
    """kotlinc from $KOTLINC, then the repository's .kotlin/ npm prefix, then PATH."""
    env = os.environ.get("KOTLINC")
    if env:
        return env
    if os.access(NPM_KOTLINC, os.X_OK):
        return str(NPM_KOTLINC)
    return shutil.which("kotlinc")


def missing_tool(reason: str) -> None:
    """Skip a test whose tool is missing here; in CI (which installs every tool) fail instead, so a
    broken install cannot pass as skipped tests."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs it: see .ci/run)")
    pytest.skip(reason)


def require_kotlinc(purpose: str) -> str:
    """kotlinc, or skip the test: without kotlinc or java there is nothing to compile or run."""
    kotlinc = find_kotlinc()
    if kotlinc is None:
        missing_tool(f"kotlinc not found: {INSTALL_HINT}")
    if shutil.which("java") is None:
        missing_tool(f"java not found: {purpose} needs a JDK 17")
    return kotlinc


def compiler_jar(kotlinc: str) -> pathlib.Path:
    """lib/kotlin-compiler.jar of the distribution that kotlinc (bin/kotlinc, maybe a link) belongs to."""
    jar = pathlib.Path(os.path.realpath(kotlinc)).parent.parent / "lib" / "kotlin-compiler.jar"
    if not jar.is_file():
        missing_tool(f"no lib/kotlin-compiler.jar beside {kotlinc}: {INSTALL_HINT}")
    return jar


def cached_build(
    build_dir: pathlib.Path, sources: Iterable[tuple[str, bytes]], product: str, build: Callable[[pathlib.Path], None]
) -> pathlib.Path:
    """build_dir/pytest-<hash of sources>/product, made by build(folder) once per source version.

    The lock lets pytest-xdist workers share one build: the first builds, the others wait for it.
    The build writes into a scratch folder and the product is renamed into place, so a build that
    was killed half-way is never taken for a finished one.
    """
    digest = hashlib.sha256()
    for name, content in sources:
        digest.update(name.encode() + b"\0" + content)
    out = build_dir / f"pytest-{digest.hexdigest()[:16]}"
    out.mkdir(parents=True, exist_ok=True)
    target = out / product
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            scratch = out / "building"
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir()
            build(scratch)
            assert (scratch / product).exists(), f"the build did not write {scratch / product}"
            os.replace(scratch / product, target)
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def syntax_tool(kotlinc: str) -> list[str]:
    """The java command line that runs KotlinSyntax.kt (compiled once per source and compiler version)."""
    compiler = compiler_jar(kotlinc)

    def build(out: pathlib.Path) -> None:
        done = subprocess.run(
            [
                kotlinc,
                "-nowarn",
                "-jvm-target",
                "17",
                "-cp",
                str(compiler),
                "-d",
                str(out / "kotlin-syntax.jar"),
                str(SYNTAX_SOURCE),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"kotlinc failed on {SYNTAX_SOURCE.name}:\n{done.stdout}\n{done.stderr}"

    # The tool uses the compiler's own API, so a different compiler means a different build.
    sources = [
        (SYNTAX_SOURCE.name, SYNTAX_SOURCE.read_bytes()),
        ("kotlin-compiler.jar", f"{compiler} {compiler.stat().st_size}".encode()),
    ]
    jar = cached_build(SYNTAX_SOURCE.parent / "build", sources, "kotlin-syntax.jar", build)
    # kotlin-compiler.jar's manifest puts kotlin-stdlib.jar and its other neighbours on the class path.
    return ["java", "-cp", f"{jar}{os.pathsep}{compiler}", "KotlinSyntaxKt"]


def syntax_errors(tool: Sequence[str], root: pathlib.Path, files: Sequence[pathlib.Path]) -> list[str]:
    """`path:line:column: description` for every syntax error in files, paths relative to root."""
    if not files:
        return []
    done = subprocess.run(
        [*tool, *(str(f.relative_to(root)) for f in files)], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert done.returncode in (0, 1), f"KotlinSyntax failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout.splitlines()
