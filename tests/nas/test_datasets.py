"""Dataset factories: each reader on tiny files written here, deterministic splits, clear errors."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
import torch

from hyperbox.nas.datasets import DataSplits, cifar10, digits, fashion_mnist, image_folder, mnist, synthetic

torch.set_num_threads(1)


def _split_labels(data: DataSplits, split: str) -> torch.Tensor:
    return data.split(split).tensors[1]


# -- digits and the split ------------------------------------------------------------------------
def test_digits_shapes_and_classes():
    data = digits(seed=0)
    assert (data.num_classes, data.in_channels, data.input_shape) == (10, 1, (1, 8, 8))
    assert sum(len(data.split(s)) for s in ("train", "val", "test")) == 1797
    images = torch.cat([data.split(s).tensors[0] for s in ("train", "val", "test")])
    assert images.min() >= 0 and images.max() <= 1


def test_digits_split_is_stratified_and_disjoint():
    data = digits(seed=3, val_fraction=0.2, test_fraction=0.1)
    val_counts = torch.bincount(_split_labels(data, "val"), minlength=10)
    assert val_counts.min() >= 34 and val_counts.max() <= 38  # ~20% of each ~180-sample class
    seen = [set(map(tuple, data.split(s).tensors[0].flatten(1).tolist())) for s in ("train", "val", "test")]
    # digits holds a few duplicate images; disjoint indices still keep almost all apart
    assert len(seen[1] & seen[2]) <= 2


def test_same_seed_same_split_and_different_seed_different_split():
    a, b, c = digits(seed=1), digits(seed=1), digits(seed=2)
    assert torch.equal(a.val.tensors[0], b.val.tensors[0])
    assert not torch.equal(a.val.tensors[0], c.val.tensors[0])


def test_digits_resize_and_normalize():
    data = digits(resize=16, normalize=True)
    train = data.train.tensors[0]
    assert data.input_shape == (1, 16, 16) and data.in_channels == 1
    assert abs(train.mean().item()) < 1e-4 and abs(train.std().item() - 1) < 1e-3


def test_loader_order_is_fixed_by_seed_and_covers_the_split():
    data = digits()
    first = [y for _, y in data.loader("train", batch_size=100, shuffle=True, seed=5)]
    again = [y for _, y in data.loader("train", batch_size=100, shuffle=True, seed=5)]
    other = [y for _, y in data.loader("train", batch_size=100, shuffle=True, seed=6)]
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    assert not torch.equal(first[0], other[0])
    assert sum(len(y) for y in first) == len(data.train)
    assert [len(y) for _, y in data.loader("train", batch_size=500, drop_last=True)] == [500, 500]


def test_bad_arguments_are_one_line_value_errors():
    with pytest.raises(ValueError, match="val_fraction"):
        digits(val_fraction=1.5)
    with pytest.raises(ValueError, match="leaves no training samples"):
        digits(val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="split 'dev'"):
        digits().loader("dev")
    with pytest.raises(ValueError, match="split 'test' is empty"):
        digits(test_fraction=0).loader("test")
    with pytest.raises(ValueError, match="resize"):
        digits(resize=0)


def test_synthetic_is_deterministic_and_configurable():
    a = synthetic(num_samples=100, num_classes=3, input_shape=(5,), seed=4)
    b = synthetic(num_samples=100, num_classes=3, input_shape=(5,), seed=4)
    assert a.input_shape == (5,) and a.num_classes == 3
    assert torch.equal(a.train.tensors[0], b.train.tensors[0])
    assert sum(len(a.split(s)) for s in ("train", "val", "test")) == 100


# -- IDX (MNIST, Fashion-MNIST) ------------------------------------------------------------------
def _write_idx(path, array: np.ndarray, compress: bool = False) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    content = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as file:
            file.write(content)
    else:
        path.write_bytes(content)


def _mnist_files(folder, train_n=40, test_n=10, compress=False):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", train_n), ("t10k", test_n)):
        images = rng.integers(0, 256, (n, 28, 28))
        labels = np.arange(n) % 10
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", images, compress)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, compress)
        arrays[prefix] = (images, labels)
    return arrays


def test_mnist_reads_idx_files(tmp_path):
    arrays = _mnist_files(tmp_path)
    data = mnist(tmp_path, val_fraction=0.25, seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (30, 10, 10)
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    images, labels = data.test.tensors
    assert torch.allclose(images[:, 0] * 255, torch.as_tensor(arrays["t10k"][0], dtype=torch.float32))
    assert labels.tolist() == arrays["t10k"][1].tolist()


def test_fashion_mnist_reads_gzipped_files_in_torchvision_layout(tmp_path):
    _mnist_files(tmp_path / "FashionMNIST" / "raw", compress=True)
    data = fashion_mnist(tmp_path, resize=14)
    assert data.input_shape == (1, 14, 14) and data.classes[0] == "T-shirt/top"


def test_mnist_names_the_missing_file(tmp_path):
    _mnist_files(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        mnist(tmp_path / "nowhere")


def test_mnist_rejects_a_corrupt_file(tmp_path):
    _mnist_files(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.*bytes of data"):
        mnist(tmp_path)


# -- CIFAR-10 -----------------------------------------------------------------------------------
def _cifar_batches(n=6):
    rng = np.random.default_rng(1)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    return {
        name: (rng.integers(0, 256, (n, 3072), dtype=np.uint8), (np.arange(n) + i) % 10) for i, name in enumerate(names)
    }


def test_cifar10_reads_binary_batches(tmp_path):
    batches = _cifar_batches()
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for name, (data, labels) in batches.items():
        records = np.concatenate([labels[:, None].astype(np.uint8), data], axis=1)
        (folder / f"{name}.bin").write_bytes(records.tobytes())
    data = cifar10(tmp_path, val_fraction=0.2)
    assert data.input_shape == (3, 32, 32) and len(data.train) + len(data.val) == 30
    images, labels = data.test.tensors
    expected = torch.as_tensor(batches["test_batch"][0].reshape(-1, 3, 32, 32), dtype=torch.float32)
    assert torch.allclose(images * 255, expected, atol=1e-3)
    assert labels.tolist() == batches["test_batch"][1].tolist()


def test_cifar10_reads_python_batches_safely(tmp_path):
    batches = _cifar_batches()
    for name, (data, labels) in batches.items():
        with open(tmp_path / name, "wb") as file:
            pickle.dump({b"data": data, b"labels": labels.tolist()}, file, protocol=2)
    data = cifar10(tmp_path, resize=16)
    assert data.input_shape == (3, 16, 16) and len(data.test) == 6


class _Payload:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar10_refuses_a_pickle_that_runs_code(tmp_path):
    for name, (data, labels) in _cifar_batches().items():
        content = {b"data": data, b"labels": labels.tolist(), b"x": _Payload()}
        (tmp_path / name).write_bytes(pickle.dumps(content))
    with pytest.raises(ValueError, match="builtins.print is not allowed"):
        cifar10(tmp_path)


def test_cifar10_without_batches_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_batch_1.bin"):
        cifar10(tmp_path)


# -- image folder -------------------------------------------------------------------------------
def test_image_folder_reads_png_and_npy(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(2)
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for i in range(5):
            Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
        np.save(tmp_path / name / "extra.npy", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    data = image_folder(tmp_path, val_fraction=1 / 3, test_fraction=1 / 3, seed=0)
    assert data.classes == ["cat", "dog"] and data.input_shape == (3, 6, 6) and data.num_classes == 2
    assert [len(data.split(s)) for s in ("train", "val", "test")] == [4, 4, 4]
    gray = image_folder(tmp_path, channels=1, resize=4)
    assert gray.input_shape == (1, 4, 4)


def test_image_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="no class sub-folders"):
        image_folder(tmp_path)
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="holds no image"):
        image_folder(tmp_path)
    np.save(tmp_path / "a" / "0.npy", np.zeros((4, 4)))
    np.save(tmp_path / "a" / "1.npy", np.zeros((5, 5)))
    with pytest.raises(ValueError, match="1.npy.*resize"):
        image_folder(tmp_path)
