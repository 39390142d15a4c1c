"""idx reader, MNIST loader and standardized per-digit designs."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from solvers.datasets import load_mnist, locate_mnist, mnist_designs, read_idx


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.mark.parametrize(
    "dtype, code",
    [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E)],
)
@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_read_idx_round_trip(tmp_path, dtype, code, name):
    array = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    out = read_idx(write(tmp_path / name, idx_bytes(array, code)))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_gzip_detected_by_content_not_name(tmp_path):
    array = np.arange(6, dtype=np.uint8)
    path = tmp_path / "labels"  # no .gz suffix
    path.write_bytes(gzip.compress(idx_bytes(array, 0x08)))
    np.testing.assert_array_equal(read_idx(path), array)


def test_wrong_magic(tmp_path):
    data = bytearray(idx_bytes(np.zeros((2, 2), np.uint8), 0x08))
    data[0] = 0x12
    path = write(tmp_path / "bad-idx3-ubyte.gz", bytes(data))
    with pytest.raises(ValueError, match=r"bad-idx3-ubyte\.gz: wrong magic number 0x12000802"):
        read_idx(path)
    data[0] = 0
    data[2] = 0x07
    with pytest.raises(ValueError, match="unknown dtype code 0x07"):
        read_idx(write(tmp_path / "code", bytes(data)))


def test_truncated(tmp_path):
    data = idx_bytes(np.zeros((3, 4, 4), np.uint8), 0x08)
    path = write(tmp_path / "short-idx3-ubyte.gz", data[:-5])
    with pytest.raises(
        ValueError, match=r"short-idx3-ubyte\.gz: truncated data \(43 bytes, shape \(3, 4, 4\) of uint8 needs 48\)"
    ):
        read_idx(path)
    with pytest.raises(ValueError, match="truncated header"):
        read_idx(write(tmp_path / "hdr", data[:9]))
    with pytest.raises(ValueError, match="2 trailing bytes"):
        read_idx(write(tmp_path / "long", data + b"xx"))


def test_corrupted_gzip_and_missing_file(tmp_path):
    good = gzip.compress(idx_bytes(np.zeros(100, np.uint8), 0x08))
    with pytest.raises(ValueError, match=r"x\.gz: corrupted gzip data"):
        read_idx(write(tmp_path / "x", good[: len(good) // 2]).rename(tmp_path / "x.gz"))
    with pytest.raises(ValueError, match="nothing: cannot read idx file"):
        read_idx(tmp_path / "nothing")


def write_mnist(directory: Path, images: np.ndarray, labels: np.ndarray) -> None:
    write(directory / "t10k-images-idx3-ubyte.gz", idx_bytes(images, 0x08))
    write(directory / "t10k-labels-idx1-ubyte", idx_bytes(labels, 0x08))  # plain, to cover both


def test_load_mnist_and_count_mismatch(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 4, 4), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    write_mnist(tmp_path, images, labels)
    got_images, got_labels = load_mnist(tmp_path)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(labels[:4], 0x08))
    with pytest.raises(ValueError, match=r"has 5 images but .*t10k-labels-idx1-ubyte has 4 labels"):
        load_mnist(tmp_path)
    with pytest.raises(ValueError, match=r"no MNIST data, expected train-images-idx3-ubyte\[\.gz\] and train-labels"):
        load_mnist(tmp_path, prefix="train")


@pytest.mark.parametrize("folder", ["", "mnist"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_standard_names_in_root_or_mnist_folder(tmp_path, folder, suffix):
    """The idx files as published (gzipped) or unpacked, in the --data root or its mnist/ folder."""
    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    labels = np.array([7, 2], np.uint8)
    where = tmp_path / folder
    where.mkdir(exist_ok=True)
    write(where / f"t10k-images-idx3-ubyte{suffix}", idx_bytes(images, 0x08))
    write(where / f"t10k-labels-idx1-ubyte{suffix}", idx_bytes(labels, 0x08))
    assert locate_mnist(tmp_path)[1] == where / f"t10k-labels-idx1-ubyte{suffix}"
    got_images, got_labels = load_mnist(tmp_path)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_designs_standardized_and_split():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (60, 3, 3), dtype=np.uint8)
    images[:, 0, 0] = 7  # constant pixel: dropped
    labels = np.repeat(np.arange(3), 20)
    d = mnist_designs(images, labels, target_digit=1, test_fraction=0.25, seed=3)
    assert d.n_features == 8 and 0 not in d.pixels
    assert d.source_digits == ((0,), (2,))
    assert d.target.shape == (15, 8) and d.target_test.shape == (5, 8)
    assert [s.shape for s in d.sources] == [(20, 8), (20, 8)]
    assert set(d.target_rows) | set(d.target_test_rows) == set(range(20, 40))
    pooled = np.vstack([d.target, d.target_test, *d.sources])
    np.testing.assert_allclose(pooled.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(pooled.var(axis=0), 1 / 8)
    # Same seed, same split; a pooled source group.
    again = mnist_designs(images, labels, 1, [(0, 2)], test_fraction=0.25, seed=3)
    np.testing.assert_array_equal(again.target_test_rows, d.target_test_rows)
    assert again.source_digits == ((0, 2),) and again.sources[0].shape == (40, 8)
    with pytest.raises(ValueError, match="overlap"):
        mnist_designs(images, labels, 1, [1, 2])
    with pytest.raises(ValueError, match="no image has label 9"):
        mnist_designs(images, labels, 9)


def test_real_mnist(shared_data):
    directory = shared_data / "mnist"
    if not directory.is_dir():
        pytest.skip(f"real data not found at {directory}")
    images, labels = load_mnist(directory)
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    d = mnist_designs(images, labels, target_digit=7)
    assert d.target.shape[0] + d.target_test.shape[0] == 1028 and len(d.sources) == 9
    assert 600 < d.n_features < 784
    rows = np.vstack(d.designs + (d.target_test,))
    np.testing.assert_allclose((rows**2).sum(axis=1).mean(), 1.0, rtol=1e-10)
