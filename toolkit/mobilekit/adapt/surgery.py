"""Channel surgery on tf_keras functional models: which channels must shrink together, and the smaller model.

A *group* is a set of channels that can only be removed together: the output
channels of a convolution or dense layer and everything that carries them —
batch norms, activations, depthwise convolutions, pooling, squeeze-excite's
input and output — up to the layers that read them (the next convolution's
input channels). A residual `Add` ties its inputs' groups into one group; a
`Concatenate` lines its inputs' groups up one after another, so the layer after
it reads slices of several groups; a `ChannelSlice` (MixNet's kernel groups and
grouped 1x1 convolutions) takes part of one, and keeps a share of every part
when the group shrinks. `shrink` builds the physically smaller model and copies
the kept weights into it: no masks, the next file is faster.

Channels that must keep their number are *fixed*: the model's input and its
classifier outputs, and what passes through layers this module cannot cut
(Conv2D with `groups`, local response normalization, which mixes neighbouring
channels, a residual add of differently split tensors); `ChannelGroup.fixed` says why.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from mobilekit.errors import UserError

# Layers whose output channels are their input channels, one for one, and whose weights (if any)
# are per channel: they carry their input's groups through.
_CARRIERS = {
    "BatchNormalization",
    "ReLU",
    "Activation",
    "HardSwish",
    "HardSigmoid",
    "Dropout",
    "ZeroPadding2D",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "DepthwiseConv2D",
    "SqueezeExcite",
    "InputNormalization",
    "Rescaling",
    "Identity",
}
_ELEMENTWISE = {"Add", "Multiply", "Subtract", "Average", "Maximum", "Minimum"}


@dataclasses.dataclass
class ChannelGroup:
    """Channels that shrink together. `producers` set their number (filters / units)."""

    id: int
    size: int
    producers: list[str] = dataclasses.field(default_factory=list)
    fixed: str | None = None  # why these channels cannot shrink


@dataclasses.dataclass(frozen=True)
class _Space:
    """The channel axis of a tensor: segments one after another, each (group, first channel, channel count) --
    whole groups, or the part of one a `ChannelSlice` took -- `repeat` times interleaved (Flatten)."""

    segments: tuple[tuple[int, int, int], ...]
    repeat: int = 1


class ChannelGraph:
    """The channel groups of a functional model and, per layer, the space of its input channels."""

    def __init__(self, model):
        if not hasattr(model, "get_config") or "input_layers" not in (model.get_config() or {}):
            raise UserError(
                f"{getattr(model, 'name', model)!r} is not a functional tf_keras model: channel "
                "surgery needs its graph (build it with tf_keras.Model(inputs, outputs))."
            )
        self.model = model
        self.config = model.get_config()
        self._parent: dict[int, int] = {}
        self._groups: dict[int, ChannelGroup] = {}
        self.inputs: dict[str, _Space] = {}  # layer name -> the channels it reads, for layers cut by shrink
        self._read: dict[str, list[_Space]] = {}  # every layer -> the spaces of its inputs
        self._outputs: dict[tuple[str, int], _Space] = {}
        self._cuts: dict[int, set[int]] = {}  # group -> where ChannelSlice layers cut it (group coordinates)
        self.slices: dict[str, tuple[int, int]] = {}  # ChannelSlice layer -> its (start, size)
        for entry in self.config["layers"]:
            self._visit(entry)
        for name, _, index in self.config["output_layers"]:
            self._fix(self._outputs[(name, index)], "the model's output")
        self._merged = self._merge()

    # -- the groups ---------------------------------------------------------------------

    def groups(self) -> list[ChannelGroup]:
        """Every group, merged: the ones `shrink` can cut have `fixed` None."""
        return list(self._merged.values())

    def _merge(self) -> dict[int, ChannelGroup]:
        merged: dict[int, ChannelGroup] = {}
        for gid, group in self._groups.items():
            root = self.root(gid)
            into = merged.setdefault(root, ChannelGroup(id=root, size=group.size))
            into.producers.extend(p for p in group.producers if p not in into.producers)
            into.fixed = into.fixed or group.fixed
        return {gid: merged[gid] for gid in sorted(merged)}

    def group(self, gid: int) -> ChannelGroup:
        """The merged group `gid` belongs to."""
        return self._merged[self.root(gid)]

    def prunable(self) -> list[ChannelGroup]:
        return [group for group in self.groups() if group.fixed is None and group.size > 1]

    def root(self, gid: int) -> int:
        while self._parent[gid] != gid:
            self._parent[gid] = self._parent[self._parent[gid]]
            gid = self._parent[gid]
        return gid

    def output_group(self, layer_name: str) -> int:
        ((gid, _, _),) = self._outputs[(layer_name, 0)].segments
        return self.root(gid)

    def parts(self, gid: int) -> list[tuple[int, int]]:
        """The (start, end) ranges ChannelSlice layers split group `gid` into: one range when none does."""
        root = self.root(gid)
        cuts = {0, self._groups[root].size}
        for other, points in self._cuts.items():
            if self.root(other) == root:
                cuts |= points
        edges = sorted(cuts)
        return list(itertools.pairwise(edges))

    def _new(self, size: int, producer: str | None = None, fixed: str | None = None) -> _Space:
        gid = len(self._groups)
        self._groups[gid] = ChannelGroup(gid, int(size), [producer] if producer else [], fixed)
        self._parent[gid] = gid
        return _Space(((gid, 0, int(size)),))

    def _union(self, a: int, b: int) -> None:
        a, b = self.root(a), self.root(b)
        if a != b:
            if self._groups[a].size != self._groups[b].size:
                raise ValueError(f"groups of {self._groups[a].size} and {self._groups[b].size} channels tied")
            self._parent[max(a, b)] = min(a, b)
            self._groups[min(a, b)].fixed = self._groups[min(a, b)].fixed or self._groups[max(a, b)].fixed

    def _fix(self, space: _Space, why: str) -> None:
        for gid, _, _ in space.segments:
            group = self._groups[self.root(gid)]
            group.fixed = group.fixed or why

    # -- tracing ------------------------------------------------------------------------

    def _visit(self, entry: dict) -> None:
        name, kind, config = entry["name"], entry["class_name"], entry["config"]
        layer = self.model.get_layer(name)
        spaces = [self._outputs[(source, index)] for source, index in _inbound(entry)]
        self._read[name] = spaces
        channels = _channels(layer.output)
        if kind == "InputLayer":
            out = self._new(channels, fixed="the model's input")
        elif kind in ("Conv2D", "Dense"):
            (space,) = spaces
            self.inputs[name] = space
            if config.get("groups", 1) != 1:
                self._fix(space, "a grouped convolution reads it")
                out = self._new(channels, fixed="a grouped convolution makes it")
            else:
                out = self._new(channels, producer=name)
        elif kind in _CARRIERS:
            (space,) = spaces
            if kind == "DepthwiseConv2D" and config.get("depth_multiplier", 1) != 1:
                self._fix(space, "a depthwise convolution with a depth multiplier reads it")
                out = self._new(channels, fixed="a depthwise convolution with a depth multiplier makes it")
            else:
                self.inputs[name] = space
                out = space
        elif kind in _ELEMENTWISE and _same_layout(spaces, self._groups, self.root):
            for other in spaces[1:]:
                for (a, _, _), (b, _, _) in zip(spaces[0].segments, other.segments):
                    self._union(a, b)
            out = spaces[0]
        elif kind == "Concatenate" and config.get("axis", -1) in (-1, 3) and all(s.repeat == 1 for s in spaces):
            out = _Space(tuple(segment for space in spaces for segment in space.segments))
        elif kind == "Flatten" and len(spaces) == 1 and spaces[0].repeat == 1:
            shape = layer.input.shape
            out = _Space(spaces[0].segments, repeat=int(np.prod(shape[1:-1])))
        elif kind == "ChannelSlice" and len(spaces) == 1 and spaces[0].repeat == 1:
            self.slices[name] = (int(config["start"]), int(config["size"]))
            out = self._slice(spaces[0], *self.slices[name])
        elif kind == "Reshape" and len(spaces) == 1 and channels == _channels(layer.input):
            out = spaces[0]  # (1, 1, C) <-> (C,): the channels stay last and in order
        else:
            for space in spaces:
                self._fix(space, f"{kind} {name} reads it")
            out = self._new(channels, fixed=f"{kind} {name} makes it")
        self._outputs[(name, 0)] = out

    def _slice(self, space: _Space, start: int, size: int) -> _Space:
        """Channels [start, start + size) of `space`, as segments; the cut points are remembered per group."""
        taken, position = [], 0
        for gid, first, count in space.segments:
            low, high = max(start, position), min(start + size, position + count)
            if low < high:
                segment = (gid, first + low - position, high - low)
                taken.append(segment)
                self._cuts.setdefault(gid, set()).update({segment[1], segment[1] + segment[2]})
            position += count
        return _Space(tuple(taken))


def _inbound(entry: dict) -> list[tuple[str, int]]:
    nodes = entry.get("inbound_nodes") or []
    if len(nodes) > 1:
        raise UserError(f"layer {entry['name']} is called more than once; channel surgery needs each layer once")
    if not nodes:
        return []
    node = nodes[0]
    if isinstance(node, dict):  # the Keras 3 style of a config
        node = node.get("args", [])
    return [(item[0], item[2]) for item in node]


def _channels(tensor) -> int:
    return int(tensor.shape[-1])


def _same_layout(spaces: list[_Space], groups: dict, root) -> bool:
    """Whether elementwise inputs line up group for group: whole groups of equal sizes in the same order."""
    first = spaces[0]
    whole = all(count == groups[root(gid)].size for space in spaces for gid, _, count in space.segments)
    return whole and all(
        s.repeat == first.repeat
        and len(s.segments) == len(first.segments)
        and all(a_count == b_count for (_, _, a_count), (_, _, b_count) in zip(s.segments, first.segments))
        for s in spaces[1:]
    )


# ---------------------------------------------------------------------------
# The smaller model
# ---------------------------------------------------------------------------


def filter_norms(graph: ChannelGraph, group: int) -> np.ndarray:
    """The L2 norm of each channel's filters, summed over the layers that produce the group (NetAdapt's ranking)."""
    total = None
    for name in graph.group(group).producers:
        kernel = graph.model.get_layer(name).get_weights()[0]
        norms = np.sqrt(np.sum(np.reshape(kernel, (-1, kernel.shape[-1])) ** 2, axis=0))
        total = norms if total is None else total + norms
    return total


def keep_strongest(graph: ChannelGraph, group: int, count: int, norms: np.ndarray | None = None) -> np.ndarray:
    """The indices of about `count` channels of `group` with the largest filter norms, in channel order.

    A group that ChannelSlice layers split (MixNet's kernel groups) keeps the same share of each part,
    at least one channel each, so no branch of the split is left empty and the split's proportions stay.
    """
    norms = filter_norms(graph, group) if norms is None else norms  # callers trying many counts pass them once
    size = len(norms)
    kept = []
    for start, end in graph.parts(group):
        share = end - start if count >= size else max(1, round(count * (end - start) / size))
        order = np.argsort(-norms[start:end], kind="stable")
        kept.append(start + order[:share])
    return np.sort(np.concatenate(kept))


def shrink(graph: ChannelGraph, keep: dict[int, np.ndarray]):
    """A new model with only the channels `keep` names (group id -> kept channel indices) and its weights copied.

    Groups not in `keep` keep every channel. A fixed group, an index out of range or an empty
    selection is a UserError.
    """
    import tf_keras

    checked = {}
    for gid, indices in keep.items():
        group = graph.group(gid)
        indices = np.unique(np.asarray(indices, dtype=np.int64))
        if group.fixed is not None:
            raise UserError(f"channel group {group.id} cannot shrink: {group.fixed}")
        if indices.size == 0 or indices[0] < 0 or indices[-1] >= group.size:
            raise UserError(
                f"channel group {group.id} has {group.size} channels; keep 1 to {group.size} of them, "
                f"got {indices.tolist()}"
            )
        checked[group.id] = indices
    kept = full_selection(graph, checked)

    config = graph.config
    # Without their build_config: layers are built from the shapes they are called on, the smaller ones.
    layers = [
        {**{k: v for k, v in entry.items() if k != "build_config"}, "config": dict(entry["config"])}
        for entry in config["layers"]
    ]
    config = {**config, "layers": layers}
    for entry in config["layers"]:
        if entry["name"] in graph.slices:
            entry["config"].update(_cut_slice(graph, entry["name"], kept))
        if entry["class_name"] in ("Conv2D", "Dense") and graph.inputs.get(entry["name"]) is not None:
            size = len(kept[graph.output_group(entry["name"])])
            entry["config"]["filters" if entry["class_name"] == "Conv2D" else "units"] = size
    smaller = tf_keras.Model.from_config(config)
    for layer in smaller.layers:
        original = graph.model.get_layer(layer.name)
        weights = original.get_weights()
        if weights and layer.name in graph.inputs:
            read = read_indices(graph, layer.name, kept)
            weights = _sliced(type(original).__name__, weights, read, _written(graph, layer.name, kept))
        layer.set_weights(weights)
    return smaller


def _cut_slice(graph: ChannelGraph, name: str, kept: dict) -> dict:
    """A ChannelSlice's start and size after the cut: what it took, less the removed channels."""
    start, size = graph.slices[name]
    positions = read_indices(graph, name, kept)  # kept channels of its input, at their old positions
    new_size = int(np.sum((positions >= start) & (positions < start + size)))
    if new_size == 0:
        raise UserError(f"{name} would take no channel: keep at least one of channels {start}..{start + size - 1}")
    return {"start": int(np.sum(positions < start)), "size": new_size}


def full_selection(graph: ChannelGraph, keep: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Every group's kept channel indices: those `keep` names, all channels elsewhere."""
    kept = {group.id: np.arange(group.size) for group in graph.groups()}
    kept.update({graph.root(gid): np.asarray(indices) for gid, indices in keep.items()})
    return kept


def read_indices(graph: ChannelGraph, layer_name: str, kept: dict) -> np.ndarray:
    """The original input channel (or flattened feature) indices a layer reads after the cut."""
    (space,) = graph._read[layer_name][:1]
    return _space_indices(graph, space, kept)


def _space_indices(graph: ChannelGraph, space: _Space, kept: dict) -> np.ndarray:
    parts, offset = [], 0
    for gid, first, count in space.segments:
        channels = kept[graph.root(gid)]
        inside = channels[(channels >= first) & (channels < first + count)]
        parts.append(offset + inside - first)
        offset += count
    channels = np.concatenate(parts)
    if space.repeat == 1:
        return channels
    return (np.arange(space.repeat)[:, None] * offset + channels[None, :]).reshape(-1)


def _written(graph: ChannelGraph, name: str, kept: dict) -> np.ndarray | None:
    """The original output channels a producer keeps."""
    if (name, 0) not in graph._outputs or len(graph._outputs[(name, 0)].segments) != 1:
        return None
    return kept[graph.output_group(name)]


def _sliced(kind: str, weights: list[np.ndarray], read, written) -> list[np.ndarray]:
    if kind == "Conv2D":
        kernel = weights[0][:, :, read, :][..., written]
        return [kernel, *(w[written] for w in weights[1:])]
    if kind == "Dense":
        return [weights[0][read][:, written], *(w[written] for w in weights[1:])]
    if kind == "DepthwiseConv2D":
        return [weights[0][:, :, read, :], *(w[read] for w in weights[1:])]
    if kind == "SqueezeExcite":
        reduce_kernel, reduce_bias, expand_kernel, expand_bias = weights
        return [reduce_kernel[:, :, read, :], reduce_bias, expand_kernel[..., read], expand_bias[read]]
    if kind == "BatchNormalization":
        return [w[read] for w in weights]
    if kind == "InputNormalization":
        return [w[read] if w.ndim == 1 else w for w in weights]
    raise UserError(f"channel surgery does not know how to cut the weights of a {kind} layer")
