#!/usr/bin/env python3
"""Run one command as N tf.distribute workers on this machine (standard library only).

    python scripts/local_cluster.py --workers 2 -- mobilekit run recipes/quickstart.yaml
    python scripts/local_cluster.py --workers 2 --restarts 1 -- mobilekit train ...

Every worker is the same command with its own TF_CONFIG: the cluster is N workers on
127.0.0.1 at free ports, and worker i is task {"type": "worker", "index": i} (worker 0 is
the chief, which writes the outputs). Their output is streamed line by line, each line
prefixed "[worker i]". When a worker fails, the others are stopped (they cannot go on:
their collective ops wait for it) and, with --restarts K, the whole job is started again at
the same addresses, up to K times, as Kubernetes restarts a failed TFJob: training with a
backup directory resumes where the last backup left it. The exit status is 0 when every
worker ends with 0, else the first failure's; Ctrl-C stops every worker.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

GRACE_SECONDS = 10  # between asking a worker to stop and killing it


def free_ports(count: int) -> list[int]:
    """`count` TCP ports free on 127.0.0.1 now (held open together, so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports: list[int], index: int) -> str:
    workers = [f"127.0.0.1:{port}" for port in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def _stream(pipe, prefix: str, lock: threading.Lock) -> None:
    for raw in iter(pipe.readline, b""):
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        with lock:
            sys.stdout.write(f"{prefix} {line}\n")
            sys.stdout.flush()
    pipe.close()


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_once(command: list[str], ports: list[int], lock: threading.Lock) -> int:
    """Start a worker per port and wait for them: 0 when all succeed, else the first failure's exit status."""
    processes, readers = [], []
    try:
        for index in range(len(ports)):
            env = {**os.environ, "TF_CONFIG": tf_config(ports, index), "PYTHONUNBUFFERED": "1"}
            process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            processes.append(process)
            with lock:
                print(f"[cluster] worker {index} pid {process.pid} at 127.0.0.1:{ports[index]}", flush=True)
            reader = threading.Thread(target=_stream, args=(process.stdout, f"[worker {index}]", lock), daemon=True)
            reader.start()
            readers.append(reader)
        while True:
            codes = [process.poll() for process in processes]
            failed = [i for i, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                first = failed[0]
                with lock:
                    print(f"[cluster] worker {first} exited with {codes[first]}; stopping the others", flush=True)
                _stop(processes)
                return codes[first] if codes[first] > 0 else 128 - codes[first]  # killed by a signal
            if all(code == 0 for code in codes):
                return 0
            time.sleep(0.2)
    except KeyboardInterrupt:
        _stop(processes)
        return 130
    finally:
        _stop(processes)
        for reader in readers:
            reader.join(timeout=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], usage="%(prog)s --workers N [--restarts K] -- COMMAND ..."
    )
    parser.add_argument("--workers", type=int, required=True, help="processes to start (>= 1)")
    parser.add_argument("--restarts", type=int, default=0, help="start the whole job again this many times at most")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command every worker runs, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.workers < 1 or args.restarts < 0:
        parser.error("--workers must be >= 1 and --restarts >= 0")
    if not command:
        parser.error("give the command after --, e.g. -- mobilekit run recipes/quickstart.yaml")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped itself: stop the workers on the way out
    ports = free_ports(args.workers)
    lock = threading.Lock()
    for attempt in range(args.restarts + 1):
        if attempt:
            print(f"[cluster] restarting the job ({attempt} of {args.restarts})", flush=True)
        code = run_once(command, ports, lock)
        if code == 0 or code == 130:
            return code
    return code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FileNotFoundError as error:
        print(f"[cluster] cannot start {error.filename!r}: no such program", file=sys.stderr)
        sys.exit(127)
