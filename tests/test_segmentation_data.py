"""Segmentation sources: mask folders (images/, masks/, labels.txt) and the bundled digit_scenes."""

import numpy as np
import pytest

from mobilekit import UserError
from mobilekit.data import digit_scenes, segmentation


def _write(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def mask_folder(tmp_path):
    """Two real photos (120x160), 3 classes: a top band of class 1, a left band of class 2, a patch at the
    bottom right of the centre square ignored."""
    from skimage import data as skdata

    for name in ("astronaut", "coffee"):
        photo = getattr(skdata, name)()[:120, :160]
        mask = np.zeros(photo.shape[:2], np.uint8)
        mask[:30] = 1
        mask[:, :20] = 2
        mask[-12:, 110:140] = segmentation.IGNORE
        _write(tmp_path / "images" / f"{name}.jpg", photo)
        _write(tmp_path / "masks" / f"{name}.png", mask)
    (tmp_path / "labels.txt").write_text("background\nsky\nwall\n")
    return tmp_path


def test_a_mask_folder_is_read_with_its_labels_and_cropped_alike(mask_folder):
    source = segmentation.read_segmentation(mask_folder, resolution=40)
    assert source.class_names == ("background", "sky", "wall")
    assert source.images.shape == (2, 40, 40, 3) and source.masks.shape == (2, 40, 40)
    # centre square: columns 20..139, 3 source pixels an output pixel. The top band's 30 rows are 10
    # rows, the left band (columns < 20) is cropped away, the ignored patch is the last 4 rows x 10 columns
    assert np.array_equal(np.unique(source.masks), [0, 1, segmentation.IGNORE])
    assert (source.masks[:, :10] == 1).all() and (source.masks[:, 10:36] == 0).all()
    assert (source.masks[:, 36:, 30:] == segmentation.IGNORE).all() and (source.masks[:, 36:, :30] == 0).all()


@pytest.mark.parametrize(
    ("spoil", "says"),
    [
        (lambda d: _write(d / "masks" / "coffee.png", np.zeros((60, 80), np.uint8)), "coffee.png is 80x60 .* 160x120"),
        (
            lambda d: _write(d / "masks" / "coffee.png", np.full((120, 160), 7, np.uint8)),
            "coffee.png holds class value.* 7 beyond the 3 labels",
        ),
        (lambda d: (d / "masks" / "coffee.png").unlink(), r"coffee.jpg has no mask: expected .*masks/coffee.png"),
        (lambda d: _write(d / "masks" / "coffee.png", np.zeros((120, 160, 3), np.uint8)), "coffee.png is a RGB image"),
        (lambda d: (d / "labels.txt").unlink(), "has no labels.txt"),
        (lambda d: (d / "labels.txt").write_text("everything\n"), "names 1 class"),
    ],
)
def test_bad_mask_folders_are_clear_errors_naming_the_file(mask_folder, spoil, says):
    spoil(mask_folder)
    with pytest.raises(UserError, match=says):
        segmentation.read_segmentation(mask_folder, resolution=32)


def test_an_unknown_source_names_the_bundled_ones():
    with pytest.raises(UserError, match="digit_scenes"):
        segmentation.read_segmentation("no_such_scenes", resolution=32)


def test_the_nearest_crop_keeps_class_values():
    mask = np.arange(12, dtype=np.uint8).reshape(3, 4)  # centre square: columns 0..2 (left = 0)
    assert segmentation.center_crop_nearest(mask, 3).tolist() == [[0, 1, 2], [4, 5, 6], [8, 9, 10]]
    assert set(np.unique(segmentation.center_crop_nearest(mask, 7))) <= set(mask.ravel())


@pytest.mark.slow
def test_digit_scenes_is_a_bundled_source_with_fixed_splits():
    source = segmentation.read_segmentation("digit_scenes", resolution=32)
    assert source.class_names == digit_scenes.CLASS_NAMES
    assert {name: len(positions) for name, positions in source.splits.items()} == digit_scenes.SPLIT_SIZES
    assert len(source.images) == len(source.masks) == sum(digit_scenes.SPLIT_SIZES.values())
    assert source.masks.max() <= 10 and (source.masks > 0).mean() > 0.02
