"""digit_scenes: MNIST-5k digits composited on scikit-image photos, with class masks and boxes."""

import numpy as np
import pytest

from mobilekit.data import digit_scenes
from mobilekit.data.sources import SOURCES


@pytest.fixture(scope="module")
def mnist():
    return SOURCES["mnist5k"][0](28, False)


@pytest.fixture(scope="module")
def scenes(mnist):
    digits = (mnist.images[..., 0], mnist.labels)
    return {split: digit_scenes.generate(split, 60, size=64, seed=3, digits=digits) for split in ("train", "test")}


def test_scenes_follow_the_seed_and_their_position_alone(mnist, scenes):
    digits = (mnist.images[..., 0], mnist.labels)
    again = digit_scenes.generate("train", 10, size=64, seed=3, digits=digits)
    assert np.array_equal(again.images, scenes["train"].images[:10])
    assert np.array_equal(again.masks, scenes["train"].masks[:10])
    other = digit_scenes.generate("train", 10, size=64, seed=4, digits=digits)
    assert not np.array_equal(other.images, again.images)


def test_masks_and_boxes_describe_the_same_digits(scenes):
    for split in scenes.values():
        assert split.images.shape == (60, 64, 64, 3) and split.masks.shape == (60, 64, 64)
        for mask, boxes, classes in zip(split.masks, split.boxes, split.box_classes):
            assert len(boxes) == len(classes) >= 1
            covered = np.zeros_like(mask, bool)
            for (ymin, xmin, ymax, xmax), digit in zip(boxes.astype(int), classes):
                inside = mask[ymin:ymax, xmin:xmax]
                assert (inside == digit + 1).any()
                covered[ymin:ymax, xmin:xmax] |= inside == digit + 1
            assert np.array_equal(covered, mask > 0)  # every digit pixel lies in a box of its class


def test_no_test_digit_is_ever_in_training(mnist, scenes):
    train = set(np.concatenate(scenes["train"].digit_ids).tolist())
    test = set(np.concatenate(scenes["test"].digit_ids).tolist())
    assert train and test and not train & test
    assert test <= set(mnist.test_indices.tolist())  # mnist5k's own fixed test digits
    parts = digit_scenes.split_digits(mnist.labels)
    assert not set(parts["validation"]) & set(parts["train"]) and not set(parts["validation"]) & test
    assert [len(parts[name]) for name in ("train", "validation", "test")] == [3500, 500, 1000]


def test_scenes_vary_in_count_overlap_and_reach_the_border(scenes):
    split = scenes["train"]
    assert {len(boxes) for boxes in split.boxes} == set(range(1, digit_scenes.MAX_DIGITS + 1))
    edges = [np.concatenate([m[0], m[-1], m[:, 0], m[:, -1]]) for m in split.masks]
    assert sum(edge.any() for edge in edges) >= 10  # digits cut by the border
    overlapping = 0
    for boxes in split.boxes:
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                top, left = np.maximum(boxes[i][:2], boxes[j][:2])
                bottom, right = np.minimum(boxes[i][2:], boxes[j][2:])
                overlapping += bottom > top and right > left
    assert overlapping >= 5
    assert set(np.concatenate(split.box_classes).tolist()) == set(range(10))
