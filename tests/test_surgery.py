"""Channel surgery (mobilekit.adapt.surgery): the groups of every zoo model, and smaller models that compute
what the original computes without the removed channels."""

import numpy as np
import pytest
from zoo_params import DEEPER, small_settings, zoo_params

from mobilekit import UserError, models, train
from mobilekit.adapt import surgery

SUPPORTED = [name for name in models.names("classification") if name not in DEEPER]


def _build(name: str):
    return models.build(name, weights=None, **small_settings(name))


def _without_removed_inputs(graph, kept):
    """The original model with every weight that reads a removed channel set to zero."""
    import tf_keras

    clone = tf_keras.models.clone_model(graph.model)
    clone.set_weights(graph.model.get_weights())
    for name in graph.inputs:
        layer = clone.get_layer(name)
        kind = type(layer).__name__
        if kind not in ("Conv2D", "Dense", "SqueezeExcite"):
            continue  # the rest act per channel: a removed channel stays in its own lane
        weights = layer.get_weights()
        rows = weights[0].shape[0] if kind == "Dense" else weights[0].shape[2]
        removed = np.setdiff1d(np.arange(rows), surgery.read_indices(graph, name, kept))
        if kind == "Dense":
            weights[0][removed] = 0
        else:
            weights[0][:, :, removed, :] = 0
        layer.set_weights(weights)
    return clone


def _features(model, images):
    """The output of the layer before the classifier (the backbone's features)."""
    import tf_keras

    head = train.classifier_layers(model)[0]
    return tf_keras.Model(model.input, head.input).predict(images, verbose=0)


def _quarter_off(graph):
    return {g.id: surgery.keep_strongest(graph, g.id, max(1, g.size * 3 // 4)) for g in graph.prunable()}


@pytest.mark.parametrize("name", zoo_params(SUPPORTED))
def test_every_group_shrinks_and_the_rest_computes_as_before(name):
    model = _build(name)
    graph = surgery.ChannelGraph(model)
    keep = _quarter_off(graph)
    assert keep, f"{name}: no channel group can shrink"
    smaller = surgery.shrink(graph, keep)
    assert smaller.count_params() < model.count_params()
    for group in graph.prunable():
        for producer in group.producers:
            layer = smaller.get_layer(producer)
            assert layer.get_weights()[0].shape[-1] == len(keep[group.id]), producer

    resolution = small_settings(name)["resolution"]
    images = np.random.default_rng(0).uniform(0, 255, (2, resolution, resolution, 3)).astype("float32")
    kept = surgery.full_selection(graph, keep)
    head = train.classifier_layers(model)[0].name
    expected = _features(_without_removed_inputs(graph, kept), images)[..., surgery.read_indices(graph, head, kept)]
    got = _features(smaller, images)
    np.testing.assert_allclose(got, expected, atol=1e-5 * max(float(np.abs(expected).max()), 1.0), rtol=1e-4)


def test_a_shrunk_model_trains_and_converts_to_a_fully_integer_file():
    import tf_keras

    from mobilekit.export import convert, tflite_file

    model = _build("mobilenet_v3_small")
    graph = surgery.ChannelGraph(model)
    smaller = surgery.shrink(
        graph, {g.id: surgery.keep_strongest(graph, g.id, max(1, g.size // 2)) for g in graph.prunable()}
    )
    images = np.random.default_rng(1).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    smaller.compile(optimizer=tf_keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    history = smaller.fit(images, np.arange(8) % 10, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    buf = convert.convert(smaller, mode="int8", calibration=[images], show_progress=False)
    assert tflite_file.summarize(buf).fully_integer


def test_residual_adds_tie_their_members_and_the_ends_are_fixed():
    graph = surgery.ChannelGraph(_build("resnet18"))
    stems = [g for g in graph.groups() if len(g.producers) > 1]
    assert stems, "a residual stage's convolutions and projection share one group"
    assert all(g.fixed is None for g in stems)
    reasons = {g.fixed for g in graph.groups() if g.fixed}
    assert reasons == {"the model's input", "the model's output"}


def test_concatenations_read_slices_of_several_groups():
    graph = surgery.ChannelGraph(_build("densenet121"))
    after_concat = [name for name, space in graph.inputs.items() if len(space.segments) > 2]
    assert after_concat, "a dense block's layers read the stem's and every earlier layer's channels"


def test_mixnet_splits_keep_a_share_of_every_kernel_group():
    graph = surgery.ChannelGraph(_build("mixnet_s"))
    split = [g for g in graph.prunable() if len(graph.parts(g.id)) > 1]
    assert split, "MixNet's mixed depthwise convolutions split their groups"
    group = max(split, key=lambda g: len(graph.parts(g.id)))
    kept = surgery.keep_strongest(graph, group.id, len(graph.parts(group.id)))
    assert [int(np.sum((kept >= a) & (kept < b))) for a, b in graph.parts(group.id)] == [1] * len(graph.parts(group.id))
    smaller = surgery.shrink(graph, {group.id: kept})
    slices = [layer for layer in smaller.layers if type(layer).__name__ == "ChannelSlice" and layer.size == 1]
    assert slices, "each branch of the split now takes one channel"


def test_bad_requests_are_clear_errors():
    import tf_keras

    graph = surgery.ChannelGraph(_build("mobilenet_v2"))
    fixed = next(g for g in graph.groups() if g.fixed)
    with pytest.raises(UserError, match="cannot shrink: the model's"):
        surgery.shrink(graph, {fixed.id: [0]})
    group = graph.prunable()[0]
    with pytest.raises(UserError, match=f"has {group.size} channels"):
        surgery.shrink(graph, {group.id: [group.size]})
    with pytest.raises(UserError, match="keep 1 to"):
        surgery.shrink(graph, {group.id: []})
    subclassed = tf_keras.Sequential([tf_keras.layers.Dense(2)])
    with pytest.raises(UserError, match="not a functional tf_keras model"):
        surgery.ChannelGraph(subclassed)
