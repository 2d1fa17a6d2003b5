"""Which tf.distribute strategy trains: none, MirroredStrategy (the devices of one host) or
MultiWorkerMirroredStrategy (hosts named by TF_CONFIG), and which process writes the outputs.

The TF_CONFIG contract is TensorFlow's, as Kubernetes (a TFJob, or a Job that sets it), Ray
Train's TensorflowTrainer and Slurm wrappers write it::

    {"cluster": {"worker": ["host0:port", "host1:port"]}, "task": {"type": "worker", "index": 0}}

A cluster may also name one "chief" (it trains like a worker and writes the outputs); without
one, worker 0 writes them. Every process runs the same command; `--batch-size` is the global
batch, split evenly over all replicas of all processes.

`parse_tf_config` only reads JSON, so a malformed TF_CONFIG is an error before TensorFlow
starts. MultiWorkerMirroredStrategy must exist before TensorFlow runs its first op, so
`Distribution.strategy` is created first thing by whatever trains.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import shutil
import tempfile
from collections.abc import Mapping

from mobilekit.errors import UserError

CHOICES = ("auto", "none", "mirrored", "multi-worker")
TRAINING_TASKS = ("chief", "worker")  # what MultiWorkerMirroredStrategy trains with
ENV = "TF_CONFIG"


@dataclasses.dataclass(frozen=True)
class Cluster:
    """TF_CONFIG, checked: every address by task type, and which task this process is."""

    tasks: dict[str, tuple[str, ...]]
    task_type: str
    task_index: int

    @property
    def workers(self) -> int:
        """The processes that train (the chief is one of them)."""
        return sum(len(self.tasks.get(kind, ())) for kind in TRAINING_TASKS)

    @property
    def is_chief(self) -> bool:
        if "chief" in self.tasks:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0

    @property
    def address(self) -> str:
        return self.tasks[self.task_type][self.task_index]


def parse_tf_config(text: str | None) -> Cluster | None:
    """The cluster TF_CONFIG names, or None when it names none (unset, empty, or no "cluster")."""
    if text is None or not text.strip():
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"{ENV} is not JSON ({error.msg} at character {error.pos}): {_short(text)}") from None
    if not isinstance(config, Mapping):
        raise UserError(f"{ENV} must be a JSON object with 'cluster' and 'task', got {_short(text)}")
    cluster = config.get("cluster")
    if not cluster:
        return None
    if not isinstance(cluster, Mapping):
        raise UserError(f"{ENV}'s 'cluster' must map task types to lists of host:port, got {cluster!r}")
    tasks = {}
    for kind, addresses in cluster.items():
        if kind == "ps":
            raise UserError(
                f"{ENV} names parameter servers ('ps'): mobilekit trains with MultiWorkerMirroredStrategy, "
                "where every worker holds the whole model. Give only 'worker' (and at most one 'chief') tasks."
            )
        if not isinstance(addresses, list) or not addresses:
            raise UserError(f"{ENV}'s cluster[{kind!r}] must be a non-empty list of host:port, got {addresses!r}")
        for address in addresses:
            _check_address(kind, address)
        tasks[str(kind)] = tuple(addresses)
    if len(tasks.get("chief", ())) > 1:
        raise UserError(f"{ENV} names {len(tasks['chief'])} chiefs; a cluster has at most one")
    if not any(kind in tasks for kind in TRAINING_TASKS):
        raise UserError(f"{ENV}'s cluster names no 'worker' or 'chief' task, only {', '.join(tasks)}")
    task = config.get("task")
    if not isinstance(task, Mapping) or "type" not in task or "index" not in task:
        raise UserError(f'{ENV} must say which task this process is: "task": {{"type": "worker", "index": 0}}')
    kind, index = task["type"], task["index"]
    if kind not in tasks:
        raise UserError(f"{ENV}'s task type {kind!r} is not in its cluster ({', '.join(tasks)})")
    if kind not in TRAINING_TASKS:
        raise UserError(f"{ENV}'s task type {kind!r}: mobilekit runs 'worker' and 'chief' tasks only")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(tasks[kind]):
        raise UserError(
            f"{ENV}'s task index {index!r} is out of range: the cluster has {len(tasks[kind])} {kind} task(s), "
            f"indexed 0..{len(tasks[kind]) - 1}"
        )
    return Cluster(tasks, kind, index)


def _check_address(kind, address) -> None:
    host, _, port = str(address).rpartition(":") if isinstance(address, str) else ("", "", "")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"{ENV}'s cluster[{kind!r}] holds {address!r}; every address is host:port, e.g. 10.0.0.2:2222")


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclasses.dataclass(frozen=True)
class Plan:
    """What `choose` decided, before any TensorFlow runs: the kind of strategy and this process's place."""

    kind: str  # "none" | "mirrored" | "multi-worker"
    cluster: Cluster | None = None
    devices: tuple[str, ...] | None = None  # MirroredStrategy's devices; None = every GPU, else the CPU

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the outputs (always, but on a non-chief worker)."""
        return self.cluster is None or self.cluster.is_chief

    @property
    def workers(self) -> int:
        return self.cluster.workers if self.cluster else 1

    def describe(self) -> str:
        if self.kind == "none":
            return "one device"
        if self.kind == "mirrored":
            return f"MirroredStrategy on {', '.join(self.devices) if self.devices else 'every local GPU (or the CPU)'}"
        role = "chief" if self.is_chief else "worker"
        return (
            f"MultiWorkerMirroredStrategy: {self.workers} workers, this one {self.cluster.task_type} "
            f"{self.cluster.task_index} at {self.cluster.address} ({role})"
        )

    def strategy(self):
        """The tf.distribute strategy (TensorFlow's default strategy for "none")."""
        import tensorflow as tf

        if self.kind == "multi-worker":
            return tf.distribute.MultiWorkerMirroredStrategy()
        if self.kind == "mirrored":
            return tf.distribute.MirroredStrategy(devices=list(self.devices) if self.devices else None)
        return tf.distribute.get_strategy()


def choose(choice: str = "auto", *, environ: Mapping[str, str] | None = None, gpus: int | None = None) -> Plan:
    """The plan for `choice` (one of CHOICES): "auto" is multi-worker when TF_CONFIG names a cluster,
    mirrored when more than one GPU is visible, none otherwise. `gpus` counts visible GPUs (asked of
    TensorFlow when None and needed)."""
    if choice not in CHOICES:
        raise UserError(f"unknown distribution {choice!r}; expected one of {', '.join(CHOICES)}")
    cluster = parse_tf_config((os.environ if environ is None else environ).get(ENV))
    if choice == "multi-worker" and cluster is None:
        raise UserError(
            f"--distribute multi-worker needs {ENV} naming the cluster and this task, e.g. "
            '{"cluster": {"worker": ["host0:2222", "host1:2222"]}, "task": {"type": "worker", "index": 0}}; '
            "scripts/local_cluster.py sets it for workers on this machine"
        )
    if choice == "multi-worker" or (choice == "auto" and cluster is not None):
        return Plan("multi-worker", cluster)
    if choice == "auto":
        return Plan("mirrored") if (_visible_gpus() if gpus is None else gpus) > 1 else Plan("none")
    return Plan(choice)


def _visible_gpus() -> int:
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def check_global_batch(batch_size: int, replicas: int) -> int:
    """The per-replica batch of a global `batch_size` split over `replicas`; UserError unless it divides."""
    if batch_size % replicas:
        low = batch_size // replicas * replicas
        raise UserError(
            f"the batch size {batch_size} is the global batch, split evenly over {replicas} replicas: give a "
            f"multiple of {replicas}, e.g. {max(low, replicas)} or {low + replicas}"
        )
    return batch_size // replicas


def is_chief(strategy) -> bool:
    """Whether this process writes outputs under `strategy` (True without one)."""
    return bool(strategy.extended.should_checkpoint)


def input_shard(strategy) -> tuple[int, int] | None:
    """(this process's input pipeline, how many) under MultiWorkerMirroredStrategy with several workers,
    numbered as tf.distribute numbers them (the chief first, then the workers), else None."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return None
    cluster = Cluster(
        {kind: tuple(addresses) for kind, addresses in resolver.cluster_spec().as_dict().items()},
        resolver.task_type,
        int(resolver.task_id),
    )
    if cluster.workers < 2:
        return None
    chiefs = len(cluster.tasks.get("chief", ()))
    return (0 if cluster.task_type == "chief" else chiefs + cluster.task_index), cluster.workers


@contextlib.contextmanager
def worker_output(folder: pathlib.Path, strategy):
    """The output folder this process works in: `folder` itself on the chief; on every other worker a
    temporary copy of it (as it is when training starts), removed afterwards.

    Every worker runs the same steps -- under MultiWorkerMirroredStrategy each one saves every model and
    checkpoint the chief saves, since reading a variable aggregated across replicas is a collective
    operation all of them join -- and decides what to resume from the same files, but only the chief's
    land. The chief waits until every copy is made before it changes anything.
    """
    if is_chief(strategy):
        _barrier(strategy)
        yield folder
        return
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="mobilekit-worker-"))
    try:
        copy = scratch / folder.name
        if folder.is_dir():
            shutil.copytree(folder, copy)
        _barrier(strategy)
        yield copy
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _barrier(strategy) -> None:
    """Return when every replica of `strategy` has reached this point."""
    import tensorflow as tf

    if strategy.num_replicas_in_sync > 1:
        strategy.run(lambda: tf.distribute.get_replica_context().all_reduce("sum", tf.constant(1.0)))


def check_writable(folder: pathlib.Path, what: str) -> None:
    """UserError unless this process can create `folder` (with its parents) and write a file in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError as error:
        raise UserError(
            f"the {what} {folder} is not writable ({error.strerror or error}); every worker must be able to "
            "write there. Choose another folder."
        ) from None
