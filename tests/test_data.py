import numpy as np
import pytest

from mobilekit import UserError
from mobilekit.data import calibration, images, labels


def test_find_images_is_recursive_and_skips_non_images(photo_folder):
    found = images.find_images(photo_folder)
    assert [p.name for p in found] == ["astronaut.png", "coffee.jpg", "chelsea.jpg"]


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "it is empty"),
        (lambda p: ((p / "docs").mkdir(), (p / "docs" / "a.txt").write_text("x"))[0] or p / "docs", "none an image"),
    ],
)
def test_find_images_errors(tmp_path, setup, message):
    with pytest.raises(UserError, match=message):
        images.find_images(setup(tmp_path))


def test_unreadable_image_names_the_file(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(UserError, match="broken.jpg"):
        images.load_rgb(bad)


def test_load_rgb_converts_grey_to_rgb(tmp_path):
    from PIL import Image
    from skimage import data

    Image.fromarray(data.camera()).save(tmp_path / "camera.png")
    image = images.load_rgb(tmp_path / "camera.png")
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    assert np.array_equal(image[..., 0], data.camera())


def test_resize_keeps_constant_images_and_matches_exact_downscale():
    flat = np.full((10, 14, 3), 77, np.uint8)
    assert np.allclose(images.resize_bilinear(flat, 5, 3), 77)
    # Halving with half-pixel centres averages each 2x2 block.
    ramp = np.arange(16, dtype=np.uint8).reshape(4, 4, 1)
    assert np.allclose(images.resize_bilinear(ramp, 2, 2)[..., 0], [[2.5, 4.5], [10.5, 12.5]])


def test_center_crop_takes_the_middle_square():
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, 10:30] = 200  # exactly the central 20x20 square
    assert np.allclose(images.center_crop(image, 10), 200)


def test_bundled_photos_are_real_rgb_images():
    photos = calibration.bundled_photos()
    assert len(photos) == len(calibration.BUNDLED_PHOTOS) + 1
    for photo in photos:
        assert photo.ndim == 3 and photo.shape[-1] == 3 and photo.dtype == np.uint8
        assert photo.std() > 10  # a photograph, not a blank array


def test_calibration_sample_is_seeded_and_in_pixel_range():
    photos = calibration.bundled_photos()
    a = calibration.sample(photos, 48, count=20, seed=3)
    b = calibration.sample(photos, 48, count=20, seed=3)
    c = calibration.sample(photos, 48, count=20, seed=4)
    assert a.shape == (20, 48, 48, 3) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() <= 255
    # The first pass is deterministic centre crops; only the random crops depend on the seed.
    assert np.array_equal(a[: len(photos)], c[: len(photos)])


def test_calibration_without_folder_warns():
    with pytest.warns(UserWarning, match="--calib DIR"):
        calibration.load(None, 32, count=2)


def test_calibration_from_folder_cycles_its_images(photo_folder):
    batch = calibration.load(photo_folder, 32, count=5)
    assert batch.shape == (5, 32, 32, 3)
    assert not np.array_equal(batch[0], batch[3])  # 4th image is a random crop of the 1st


def test_imagenet_labels_ship_with_the_package():
    names = labels.imagenet_labels()
    assert len(names) == 1000 and len(set(names)) == 1000
    assert names[0] == "tench" and names[-1] == "toilet tissue"


def test_labels_file_must_match_class_count(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("cat\ndog\n")
    assert labels.read_labels(path, 2) == ["cat", "dog"]
    with pytest.raises(UserError, match="2 lines but the model has 3 classes"):
        labels.read_labels(path, 3)
    with pytest.raises(UserError, match="does not exist"):
        labels.read_labels(tmp_path / "nope.txt", 2)
