"""Published weights by name, against a local HTTP server standing in for the publishers.

The server on 127.0.0.1 serves torchvision-layout files under published-style names: safetensors
copies of the fixtures' seeded weights (whose torchvision logits tests/fixtures/torchvision holds),
and the CIFAR-10 release's own file. Each test registers the served file's hash for a test tag
and points $JAXCNN_WEIGHTS_MIRROR at the server; no test touches the internet.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import pathlib
import shutil
import threading

import jax
import numpy as np
import pytest

import jaxcnn
from jaxcnn.cli import main
from jaxcnn.convert import published, weights_cache
from jaxcnn.convert.testing import relative_error
from jaxcnn.data.imagenet import imagenet_classes
from jaxcnn.models import get_weights, list_weights, model_info
from tests.reliability.tmpfs import tmpfs

FIXTURES = pathlib.Path(__file__).parents[1] / "fixtures"
RELEASE = FIXTURES / "published" / "resnet20-12fca82f.th"
TOLERANCE = 1e-4  # as tests/convert/test_convert_parity.py


class Publisher(http.server.BaseHTTPRequestHandler):
    """Serves ``files``; a name in ``cut`` is sent half (its full length announced), then the
    connection closes; ``Range: bytes=N-`` is honoured (206). Every request goes to ``log``."""

    files: dict[str, bytes] = {}
    cut: set[str] = set()
    log: list[tuple[str, str | None]] = []

    def do_GET(self):
        name = self.path.lstrip("/")
        self.log.append((name, self.headers.get("Range")))
        if name not in self.files:
            self.send_error(404)
            return
        data = self.files[name]
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body = data[start:]
        if name in self.cut:
            body = body[: len(body) // 2]
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def publisher(monkeypatch, tmp_path):
    """A publisher server on 127.0.0.1, the mirror pointed at it, an empty cache in tmp_path."""
    Publisher.files, Publisher.cut, Publisher.log = {}, set(), []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Publisher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("JAXCNN_WEIGHTS_MIRROR", f"http://127.0.0.1:{server.server_address[1]}/")
    monkeypatch.setenv("JAXCNN_WEIGHTS", str(tmp_path / "cache"))
    yield Publisher
    server.shutdown()
    server.server_close()


def publish(name: str, data: bytes, suffix: str, *, tag: str = "TEST", **fields):
    """Serve ``data`` as ``name``'s weights ``tag`` (registered for the test, its hash the data's)."""
    digest = hashlib.sha256(data).hexdigest()
    entry = dataclasses.replace(
        get_weights(name), tag=tag, file=f"{name}-{digest[:8]}{suffix}", sha256=digest[:8], **fields
    )
    Publisher.files[entry.file] = data
    model_info(name).weights[tag] = entry
    return entry


@pytest.fixture
def register(publisher):
    """``register(name, data, suffix, **fields)``: publish, and unregister after the test."""
    added = []

    def add(name, data, suffix, **fields):
        added.append((name, fields.get("tag", "TEST")))
        return publish(name, data, suffix, **fields)

    yield add
    for name, tag in added:
        model_info(name).weights.pop(tag, None)


def safetensors_bytes(state_dict: dict, tmp_path) -> bytes:
    from safetensors.numpy import save_file

    path = tmp_path / "file.safetensors"
    save_file({k: np.ascontiguousarray(v) for k, v in state_dict.items()}, str(path))
    return path.read_bytes()


@pytest.mark.parametrize("name", ["resnet18", "googlenet", pytest.param("vgg11_bn", marks=pytest.mark.slow)])
def test_weights_by_name_give_torchvision_logits(name, register, torchvision_fixture, tmp_path):
    """A ResNet, an Inception and a VGG: the fixture's weights, served as their publisher would,
    loaded by name, give the logits torchvision computed with them."""
    fixture = torchvision_fixture(name)
    register(name, safetensors_bytes(fixture.state_dict(), tmp_path), ".safetensors", overrides={})
    model, variables = jaxcnn.create_model(name, weights="TEST")
    apply = jax.jit(lambda v, x: model.apply(v, x, train=False))
    for x, expected in fixture.cases():
        assert relative_error(apply(variables, x), expected) <= TOLERANCE, (name, x.shape)


def test_a_file_with_another_hash_is_refused_and_nothing_is_cached(register, tmp_path):
    entry = register("resnet20", RELEASE.read_bytes(), ".th")
    model_info("resnet20").weights["TEST"] = dataclasses.replace(entry, sha256="0123abcd")
    with pytest.raises(ValueError) as refused:
        jaxcnn.create_model("resnet20", weights="TEST")
    message = str(refused.value)
    assert "\n" not in message and "published with sha256 0123abcd" in message and entry.file in message
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []


def test_a_download_cut_half_way_leaves_no_cached_file_and_the_next_call_resumes(register, tmp_path):
    entry = register("resnet20", RELEASE.read_bytes(), ".th")
    Publisher.cut.add(entry.file)
    with pytest.raises(weights_cache.WeightsUnavailableError, match=r"connection closed after \d+ of 1099231 bytes"):
        jaxcnn.create_model("resnet20", weights="TEST")
    assert not (tmp_path / "cache" / entry.file).exists()
    Publisher.cut.clear()
    model, variables = jaxcnn.create_model("resnet20", weights="TEST")
    assert (tmp_path / "cache" / entry.file).read_bytes() == RELEASE.read_bytes()
    half = (len(RELEASE.read_bytes())) // 2
    assert Publisher.log[-1] == (entry.file, f"bytes={half}-")  # resumed where the cut left it


def test_a_second_load_makes_no_request_and_no_conversion(register, monkeypatch):
    register("resnet20", RELEASE.read_bytes(), ".th")
    first = jaxcnn.create_model("resnet20:TEST")[1]
    requests = len(Publisher.log)

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(published, "from_torchvision", no_conversion)
    second = jaxcnn.create_model("resnet20:TEST")[1]
    assert len(Publisher.log) == requests
    jax.tree.map(np.testing.assert_array_equal, first, second)


def test_a_damaged_cached_conversion_is_converted_again(register, tmp_path):
    register("resnet20", RELEASE.read_bytes(), ".th")
    first = jaxcnn.create_model("resnet20:TEST")[1]
    (converted,) = (tmp_path / "cache" / "converted").iterdir()
    converted.write_bytes(converted.read_bytes()[: converted.stat().st_size // 2])
    jax.tree.map(np.testing.assert_array_equal, jaxcnn.create_model("resnet20:TEST")[1], first)
    np.load(converted)  # written whole again


def test_offline_is_one_line_naming_the_url_and_the_cache_path(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXCNN_WEIGHTS", str(tmp_path / "cache"))
    monkeypatch.setenv("JAXCNN_WEIGHTS_MIRROR", "http://127.0.0.1:9/")  # port 9 refuses connections
    with pytest.raises(weights_cache.WeightsUnavailableError) as offline:
        jaxcnn.create_model("resnet20", weights="DEFAULT")
    message = str(offline.value)
    assert "\n" not in message
    assert "http://127.0.0.1:9/resnet20-12fca82f.th" in message
    assert f"copy resnet20-12fca82f.th to {tmp_path / 'cache' / 'resnet20-12fca82f.th'}" in message


def test_a_read_only_cache_filled_by_hand_is_used(monkeypatch, tmp_path):
    """An air-gapped cluster: the file copied into a read-only cache, no server, no mirror."""
    with tmpfs(tmp_path / "cache", "size=8m") as cache:
        shutil.copy(RELEASE, cache / RELEASE.name)
        import subprocess

        subprocess.run(["mount", "-o", "remount,ro", str(cache)], check=True)
        monkeypatch.setenv("JAXCNN_WEIGHTS", str(cache))
        monkeypatch.setenv("JAXCNN_WEIGHTS_MIRROR", "http://127.0.0.1:9/")
        model, variables = jaxcnn.create_model("resnet20", weights="CIFAR10_V1")
        assert model.channel_padding == "both"
        assert sorted(p.name for p in cache.iterdir()) == [RELEASE.name]


def test_another_number_of_classes_gets_a_fresh_head_and_every_other_layer(register):
    register("resnet20", RELEASE.read_bytes(), ".th")
    _, published_variables = jaxcnn.create_model("resnet20", weights="TEST")
    model, variables = jaxcnn.create_model("resnet20", weights="TEST", num_classes=4)
    assert variables["params"]["fc"]["kernel"].shape == (64, 4)
    np.testing.assert_array_equal(
        variables["params"]["conv1"]["kernel"], published_variables["params"]["conv1"]["kernel"]
    )
    assert model.apply(variables, np.zeros((1, 32, 32, 3), np.float32)).shape == (1, 4)


def test_the_registry_lists_every_published_weight():
    """torchvision publishes 19 ImageNet-1k weights for these 15 models; the CIFAR release 6."""
    imagenet = [w for w in list_weights() if w.dataset == "ImageNet-1K"]
    assert len(imagenet) == 19 and len({w.model for w in imagenet}) == 15
    assert sorted(w.model for w in list_weights() if w.dataset == "CIFAR-10") == sorted(
        ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202"]
    )
    for w in list_weights():
        assert w.file.rsplit("-", 1)[1].startswith(w.sha256[:8]), w.name  # the hash the file name carries


def test_jaxcnn_weights_lists_all_25_with_their_cache_state(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("JAXCNN_WEIGHTS", str(tmp_path))
    shutil.copy(RELEASE, tmp_path / RELEASE.name)
    assert main(["weights"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 19 + 6
    cached = [line.split()[0] for line in lines if line.endswith("  cached")]
    assert cached == ["resnet20:CIFAR10_V1"]


def test_predict_by_name_prints_imagenet_class_names(register, torchvision_fixture, tmp_path, capsys):
    from PIL import Image

    fixture = torchvision_fixture("resnet18")
    register("resnet18", safetensors_bytes(fixture.state_dict(), tmp_path), ".safetensors")
    picture = tmp_path / "picture.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (250, 300, 3), dtype=np.uint8)).save(picture)
    assert main(["predict", "resnet18:TEST", str(picture), "--json", "--top-k", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    names = [row["class"] for row in result["top_k"]]
    assert len(names) == 3 and all(name in imagenet_classes() for name in names)
    assert [imagenet_classes()[row["label"]] for row in result["top_k"]] == names


def test_unknown_tags_and_models_without_weights_are_named():
    with pytest.raises(
        ValueError, match=r"resnet50 has no weights 'IMAGENET1K_V3'; it has IMAGENET1K_V1, IMAGENET1K_V2"
    ):
        jaxcnn.create_model("resnet50", weights="IMAGENET1K_V3")
    with pytest.raises(ValueError, match=r"plain20 has no published weights; the models that have some: googlenet"):
        jaxcnn.create_model("plain20", weights="DEFAULT")


def test_init_from_published_weights_records_the_attributes_they_need(monkeypatch, tmp_path):
    """The CIFAR release needs channel_padding="both": a run from it records that in config.json,
    and starts from the release's weights (grey data: the stem summed over its colours)."""
    from jaxcnn.data import load
    from tests.training.runs import subset

    monkeypatch.setenv("JAXCNN_WEIGHTS", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    shutil.copy(RELEASE, tmp_path / "cache" / RELEASE.name)
    train, test = subset(load("fashion_mnist_small", "train"), 64), subset(load("fashion_mnist_small", "test"), 50)
    config = jaxcnn.TrainConfig(
        model="resnet20",
        init_from="resnet20:CIFAR10_V1",
        max_steps=1,
        batch_size=32,
        freeze="backbone",  # every layer but the classifier stays as loaded
        warmup_epochs=0,
        parallel="none",
        progress=False,
        out=str(tmp_path / "run"),
    )
    jaxcnn.fit(config, train=train, test=test)
    recorded = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert recorded["model_overrides"] == {"channel_padding": "both"} and recorded["init_from"] == "resnet20:CIFAR10_V1"
    model, variables = jaxcnn.load_checkpoint(tmp_path / "run")
    _, release = jaxcnn.create_model("resnet20", weights="CIFAR10_V1")
    np.testing.assert_array_equal(
        variables["params"]["layer3_block0"]["conv2"]["kernel"], release["params"]["layer3_block0"]["conv2"]["kernel"]
    )
    np.testing.assert_allclose(
        variables["params"]["conv1"]["kernel"][:, :, 0], release["params"]["conv1"]["kernel"].sum(2), rtol=1e-6
    )


def test_init_from_weights_of_another_model_is_refused_before_anything_is_written(capsys, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as refused:
        main(["train", "--model", "resnet32", "--init-from", "resnet20:CIFAR10_V1", "--out", str(out)])
    assert refused.value.code == 2
    assert (
        "argument --init-from: resnet20:CIFAR10_V1 are weights of resnet20, not of resnet32" in capsys.readouterr().err
    )
    assert not out.exists()
