#!/usr/bin/env python3
"""The latency-table half of scripts/android_bench.sh --table (standard library only, Python 3.8+).

latency_table.py files TABLE_JSON
    Checks a mobilekit.latency-table/1 table and prints, one a line: the table's "threads", then
    every file it names (the overhead file first, then the ops' files in order, then the networks'
    files when it has "networks"; each once), as paths relative to the table's folder. A table that cannot be used: the reason on stdout, exit 2.

latency_table.py merge TABLE_JSON RESULTS_DIR ACCELERATOR THREADS
    Reads RESULTS_DIR/<file stem>_<ACCELERATOR>_t<THREADS>.json for every file of the table and writes
    RESULTS_DIR/table.json: the table with every "ms" replaced by the phone's median for its file,
    "device" by the phone's device and "threads" by THREADS. Written to a temporary file, then renamed.
    Prints the device's name. A file without a usable median: its name on stderr, exit 1, nothing written.
"""

import hashlib
import json
import os
import re
import sys
import tempfile

FORMAT = "mobilekit.latency-table/1"
BENCH = "mobilekit.bench/1"
PLAIN = re.compile(r"^[A-Za-z0-9._+-]+$")
TABLE_NAME = "table.json"


class Unusable(Exception):
    """The table cannot be used; the message says why."""


def load_table(path):
    try:
        with open(path, encoding="utf-8") as f:
            table = json.load(f)
    except FileNotFoundError:
        raise Unusable(f"no {path}; write one with: mobilekit adapt ... --export-table-models DIR")
    except OSError as error:
        raise Unusable(f"cannot read {path}: {error.strerror}")
    except ValueError as error:
        raise Unusable(f"{path} is not JSON ({error})")
    if not isinstance(table, dict) or table.get("format") != FORMAT:
        found = table.get("format") if isinstance(table, dict) else None
        raise Unusable(
            f"{path} is not a {FORMAT} table (format: {json.dumps(found)}); "
            "write one with: mobilekit adapt ... --export-table-models DIR"
        )
    return table


def entries(table, path):
    """(where, entry) for every timed file: the overhead, every op, and every network when the table has
    "networks" (whole converted copies it calibrates with); each entry a dict with a usable "file"."""
    overhead = table.get("overhead")
    if not isinstance(overhead, dict):
        raise Unusable(f'{path}: "overhead" must be an object with "file" and "ms"')
    found = [("overhead", overhead)]
    for key, required in (("ops", True), ("networks", False)):
        items = table.get(key) if required or key in table else []
        if not isinstance(items, list):
            raise Unusable(f'{path}: "{key}" must be a list of objects with "file" and "ms"')
        found += [(f"{key}[{i}]", item) for i, item in enumerate(items)]
    for where, entry in found:
        file = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(file, str) or not file:
            raise Unusable(f'{path}: {where} has no "file"')
        parts = file.split("/")
        if file.startswith("/") or any(p in ("", ".", "..") or not PLAIN.match(p) for p in parts):
            raise Unusable(
                f'{path}: {where} "file" is {json.dumps(file)}; it must be a path inside the table\'s folder '
                "of letters, digits and . _ + -"
            )
        if not file.endswith(".tflite"):
            raise Unusable(f'{path}: {where} "file" is {json.dumps(file)}, not a .tflite file')
    return found


def unique_files(found):
    files = []
    for _, entry in found:
        if entry["file"] not in files:
            files.append(entry["file"])
    return files


def result_name(file, accelerator, threads):
    return f"{file.rsplit('/', 1)[-1][: -len('.tflite')]}_{accelerator}_t{threads}.json"


def files_command(table_path):
    table = load_table(table_path)
    found = entries(table, table_path)
    threads = table.get("threads")
    # One line whatever it holds: a whole number as is, anything else as JSON (the script then refuses it).
    if threads is None:
        print("")
    else:
        print(threads if isinstance(threads, int) and not isinstance(threads, bool) else json.dumps(threads))
    for file in unique_files(found):
        print(file)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def phone_result(folder, results_dir, file, accelerator, threads):
    """(median, device) from the file's results JSON, or raises Unusable with the reason."""
    name = result_name(file, accelerator, threads)
    try:
        with open(os.path.join(results_dir, name), encoding="utf-8") as f:
            document = json.load(f)
    except FileNotFoundError:
        raise Unusable(f"no results file {name}")
    except (OSError, ValueError) as error:
        raise Unusable(f"{name} cannot be read ({error})")
    results = document.get("results") if isinstance(document, dict) else None
    if (
        not isinstance(results, list)
        or len(results) != 1
        or not isinstance(results[0], dict)
        or document.get("schema") != BENCH
    ):
        raise Unusable(f"{name} is not a {BENCH} file with one result")
    result = results[0]
    if result.get("delegate") != accelerator or result.get("threads") != threads:
        raise Unusable(f"{name} is for {result.get('delegate')} with {result.get('threads')} threads")
    if "sha256" in result and result["sha256"] != sha256(os.path.join(folder, file)):
        raise Unusable(f"{name} measured another file (its sha256 differs)")
    if "error" in result:
        raise Unusable(f"the phone refused it: {result['error']}")
    latency = result.get("latency_ms")
    median = latency.get("median") if isinstance(latency, dict) else None
    if isinstance(median, bool) or not isinstance(median, (int, float)):
        raise Unusable(f"{name} has no median latency")
    device = document.get("device")
    if not isinstance(device, dict) or not device.get("name"):
        raise Unusable(f"{name} names no device")
    return median, device


def merge_command(table_path, results_dir, accelerator, threads):
    threads = int(threads)
    table = load_table(table_path)
    found = entries(table, table_path)
    folder = os.path.dirname(os.path.abspath(table_path))
    medians, problems, device = {}, [], None
    for file in unique_files(found):
        try:
            medians[file], file_device = phone_result(folder, results_dir, file, accelerator, threads)
            device = device or file_device
        except Unusable as reason:
            problems.append(f"{file}: {reason}")
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    for _, entry in found:
        entry["ms"] = medians[entry["file"]]
    table["device"] = device
    table["threads"] = threads
    write_atomically(os.path.join(results_dir, TABLE_NAME), json.dumps(table, indent=2) + "\n")
    print(device["name"])
    return 0


def write_atomically(path, text):
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temporary, 0o666 & ~mask)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def main(argv):
    if argv[:1] == ["files"] and len(argv) == 2:
        try:
            files_command(argv[1])
        except Unusable as reason:
            print(reason)
            return 2
        return 0
    if argv[:1] == ["merge"] and len(argv) == 5:
        try:
            return merge_command(*argv[1:])
        except Unusable as reason:
            print(reason, file=sys.stderr)
            return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
