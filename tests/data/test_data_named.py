"""Named datasets: downloads from a local HTTP server in the official formats, caches, errors."""

import gzip
import hashlib
import http.server
import io
import pickle
import struct
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from jaxcnn.data import channel_stats, is_local, list_datasets, load

DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx format as published: 00 00 08 <rank>, big-endian int32 dims, the bytes."""
    return struct.pack(f">4B{array.ndim}i", 0, 0, 8, array.ndim, *array.shape) + array.tobytes()


def cifar_tar(top: str, batches: dict, meta_name: str, meta: dict) -> bytes:
    """A CIFAR python tar.gz: pickled dicts with bytes keys, as Python 2 wrote them."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in [*batches.items(), (meta_name, meta)]:
            data = pickle.dumps(content, protocol=2)
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files; under /cut/ it promises the whole file but sends half and hangs up."""

    def do_GET(self):
        if not self.path.startswith("/cut/"):
            return super().do_GET()
        data = (Path(self.directory) / self.path[len("/cut/") :]).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(base URL, folder it serves) of an HTTP server on 127.0.0.1."""
    www = tmp_path_factory.mktemp("www")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Handler(*a, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No user cache, no JAXCNN_DATA, no mirror from the environment."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("JAXCNN_DATA", raising=False)
    monkeypatch.delenv("JAXCNN_DATA_MIRROR", raising=False)


@pytest.fixture(scope="module")
def mnist_files(server):
    """Small MNIST-format files served under /mnist/: arrays and payload sums."""
    _, www = server
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 12, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 5, dtype=np.uint8),
    }
    (www / "mnist").mkdir()
    sums = {}
    for name, array in arrays.items():
        payload = idx_bytes(array)
        (www / "mnist" / f"{name}.gz").write_bytes(gzip.compress(payload))
        sums[f"{name}.gz"] = sha256(payload)
    return arrays, sums


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_list_datasets_names_the_issue_datasets():
    assert list_datasets() == ["cifar10", "cifar100", "fashion_mnist", "fashion_mnist_small", "mnist"]


def test_mnist_downloads_verifies_and_caches(server, mnist_files, tmp_path):
    url, _ = server
    arrays, sums = mnist_files
    root = tmp_path / "data"
    ds = load("mnist", "train", root=root, mirror=f"{url}/mnist/", checksums=sums)
    np.testing.assert_array_equal(ds.images[..., 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.labels, arrays["train-labels-idx1-ubyte"])
    assert ds.images.shape == (12, 28, 28, 1) and ds.classes == tuple("0123456789")
    assert ds.sha256 == sums["train-images-idx3-ubyte.gz"]
    assert ds.source == str(root / "mnist" / "train-images-idx3-ubyte.gz")
    assert leftovers(root) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    # the cached copy is used without a server (port 9 refuses connections)
    again = load("mnist", "train", root=root, mirror="http://127.0.0.1:9/", checksums=sums)
    np.testing.assert_array_equal(again.images, ds.images)


def test_mirror_from_environment_and_data_dir_from_environment(server, mnist_files, tmp_path, monkeypatch):
    url, _ = server
    arrays, sums = mnist_files
    monkeypatch.setenv("JAXCNN_DATA_MIRROR", f"{url}/mnist")
    monkeypatch.setenv("JAXCNN_DATA", str(tmp_path / "env"))
    ds = load("mnist", "test", checksums=sums)
    np.testing.assert_array_equal(ds.labels, arrays["t10k-labels-idx1-ubyte"])
    assert (tmp_path / "env" / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()


def test_pinned_checksums_reject_files_that_are_not_the_official_ones(server, mnist_files, tmp_path):
    url, _ = server
    root = tmp_path / "data"
    with pytest.raises(ValueError, match="wrong sha256: expected ba891046"):
        load("mnist", "train", root=root, mirror=f"{url}/mnist/")
    assert leftovers(root) == []


def test_wrong_checksum_download_is_discarded(server, mnist_files, tmp_path):
    url, _ = server
    _, sums = mnist_files
    wrong = dict(sums, **{"t10k-images-idx3-ubyte.gz": "0" * 64})
    with pytest.raises(ValueError, match="wrong sha256"):
        load("mnist", "test", root=tmp_path / "data", mirror=f"{url}/mnist/", checksums=wrong)
    assert leftovers(tmp_path / "data") == []


def test_truncated_file_is_discarded(server, mnist_files, tmp_path):
    url, www = server
    _, sums = mnist_files
    (www / "short").mkdir(exist_ok=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        data = (www / "mnist" / name).read_bytes()
        (www / "short" / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a complete gzip file"):
        load("mnist", "test", root=tmp_path / "data", mirror=f"{url}/short/", checksums=sums)
    assert leftovers(tmp_path / "data") == []


def test_transfer_cut_short_is_discarded(server, mnist_files, tmp_path):
    url, _ = server
    _, sums = mnist_files
    with pytest.raises(ValueError, match="stopped after"):
        load("mnist", "test", root=tmp_path / "data", mirror=f"{url}/cut/mnist/", checksums=sums)
    assert leftovers(tmp_path / "data") == []


def test_corrupt_copy_on_disk_is_named(mnist_files, tmp_path):
    _, sums = mnist_files
    bad = tmp_path / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(gzip.compress(b"not the data"))
    with pytest.raises(ValueError, match=f"{bad}.*delete it"):
        load("mnist", "test", root=tmp_path / "data", checksums=sums)


def test_offline_without_a_copy_says_which_files_to_put_where(tmp_path):
    root = tmp_path / "data"
    with pytest.raises(FileNotFoundError) as err:
        load("cifar10", root=root, mirror="http://127.0.0.1:9/")
    message = str(err.value)
    assert "cifar-10-python.tar.gz" in message and str(root / "cifar-10") in message
    assert "JAXCNN_DATA_MIRROR" in message
    assert leftovers(root) == []


def test_cifar10_python_archive(server, tmp_path):
    url, www = server
    rng = np.random.default_rng(1)
    data = {
        f"data_batch_{i}": {b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), b"labels": [i % 10, (i + 3) % 10]}
        for i in range(1, 6)
    }
    data["test_batch"] = {b"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8), b"labels": [9, 0, 4]}
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    archive = cifar_tar("cifar-10-batches-py", data, "batches.meta", {b"label_names": names})
    (www / "cifar10").mkdir()
    (www / "cifar10" / "cifar-10-python.tar.gz").write_bytes(archive)
    sums = {"cifar-10-python.tar.gz": sha256(archive)}
    train = load("cifar10", "train", root=tmp_path, mirror=f"{url}/cifar10", checksums=sums)
    test = load("cifar10", "test", root=tmp_path, mirror="http://127.0.0.1:9/", checksums=sums)
    assert train.images.shape == (10, 32, 32, 3) and test.images.shape == (3, 32, 32, 3)
    assert train.labels.tolist() == [1, 4, 2, 5, 3, 6, 4, 7, 5, 8]
    assert test.classes[9] == "truck" and train.sha256 == sums["cifar-10-python.tar.gz"]
    # CIFAR layout: row r of 'data' holds the red, green, blue 32x32 planes, row-major.
    raw = data["test_batch"][b"data"]
    for c in range(3):
        np.testing.assert_array_equal(test.images[:, :, :, c], raw[:, c * 1024 : (c + 1) * 1024].reshape(3, 32, 32))


def test_cifar100_fine_labels(server, tmp_path):
    url, www = server
    rng = np.random.default_rng(2)
    data = {
        name: {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"fine_labels": list(range(n)),
            b"coarse_labels": [0] * n,
        }
        for name, n in (("train", 4), ("test", 2))
    }
    fine = [f"class{i}".encode() for i in range(100)]
    archive = cifar_tar(
        "cifar-100-python", data, "meta", {b"fine_label_names": fine, b"coarse_label_names": [b"x"] * 20}
    )
    (www / "cifar100").mkdir()
    (www / "cifar100" / "cifar-100-python.tar.gz").write_bytes(archive)
    ds = load(
        "cifar100",
        "train",
        root=tmp_path,
        mirror=f"{url}/cifar100",
        checksums={"cifar-100-python.tar.gz": sha256(archive)},
    )
    assert ds.labels.tolist() == [0, 1, 2, 3] and ds.num_classes == 100
    assert ds.classes[99] == "class99"


@pytest.mark.parametrize(
    "name, suggestion", [("fashion-mnist", "fashion_mnist"), ("cifar_10", "cifar10"), ("mnsit", "mnist")]
)
def test_unknown_names_list_close_matches(name, suggestion):
    with pytest.raises(ValueError, match=f"unknown dataset '{name}'. Did you mean '{suggestion}'"):
        load(name)


def test_unknown_split_is_rejected():
    with pytest.raises(ValueError, match="split must be one of"):
        load("mnist", "validation")


@pytest.mark.skipif(
    not DEBIAN.is_dir(),
    reason="needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) in /usr/share/datasets",
)
def test_debian_fashion_mnist_matches_the_published_dataset(tmp_path):
    train = load("fashion_mnist", "train", root=tmp_path)
    test = load("fashion_mnist", "test", root=tmp_path)
    assert train.source.startswith(str(DEBIAN))
    # Published: 60,000 / 10,000 images, 6,000 / 1,000 per class, the first training
    # image an ankle boot (9), pixel mean 0.2860 and std 0.3530 on the training set.
    assert train.images.shape == (60000, 28, 28, 1) and len(test) == 10000
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert np.bincount(test.labels).tolist() == [1000] * 10
    assert train.labels[0] == 9 and train.classes[9] == "Ankle boot"
    mean, std = channel_stats(train)
    np.testing.assert_allclose([mean[0], std[0]], [0.2860, 0.3530], atol=5e-5)


def test_is_local_is_true_exactly_when_load_needs_no_download(server, mnist_files, tmp_path):
    url, _ = server
    _, sums = mnist_files
    root = tmp_path / "data"
    assert is_local("fashion_mnist_small")  # ships inside the package
    assert not is_local("mnist", root=root)
    load("mnist", "train", root=root, mirror=f"{url}/mnist/", checksums=sums)
    assert not is_local("mnist", root=root)  # the test split is still missing
    load("mnist", "test", root=root, mirror=f"{url}/mnist/", checksums=sums)
    assert is_local("mnist", root=root)
    with pytest.raises(ValueError, match="unknown dataset 'minst'.*'mnist'"):
        is_local("minst")
