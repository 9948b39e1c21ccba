"""Training from a StreamingFolder: interrupted mid-epoch (SIGINT, or a second Ctrl-C's
KeyboardInterrupt) it leaves no worker thread, and resumed it ends bit-identical to the
uninterrupted run."""

import importlib
import os
import signal
import threading

import numpy as np
import pytest
from PIL import Image

from jaxcnn.data import StreamingFolder
from jaxcnn.data.folder import scan
from jaxcnn.training import TrainConfig, fit
from jaxcnn.training.config import ConfigError
from jaxcnn.training.parts import describe_data
from tests.reliability.test_kill import assert_same_sums
from tests.training.runs import tiny_config
from tests.training.test_training_fit import assert_same_params

loop_module = importlib.import_module("jaxcnn.training.loop")
# 4 steps per epoch, 8 in all, with every random input transform of a streamed folder on
STREAMING = {
    "batch_size": 16,
    "eval_batch_size": 16,
    "checkpoint_every": 2,
    "image_size": 32,
    "random_erase": 0.5,
    "mixup_alpha": 0.2,
    "cutmix_alpha": 1.0,
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """(train, test) StreamingFolders of 64 and 16 seeded 40x48 images (PNG and JPEG), 4 classes:
    training crops of 24 pixels with TrivialAugmentWide, evaluation crops of 32."""
    root = tmp_path_factory.mktemp("streamed")
    rng = np.random.default_rng(0)
    for n in range(80):
        split, folder = ("train" if n < 64 else "test"), root / f"c{n % 4}"
        (root / split / folder.name).mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)).resize((48, 40), Image.BICUBIC)
        image.save(root / split / folder.name / (f"{n:02d}.png" if n % 2 else f"{n:02d}.jpg"))
    made = []
    for split in ("train", "test"):
        classes, files, labels = scan(root / split)
        train = split == "train"
        settings = {"image_size": 24, "auto_augment": "ta_wide"} if train else {"image_size": 32}
        made.append(StreamingFolder(files, labels, classes, train=train, workers=2, seed=0, **settings))
    return tuple(made)


@pytest.fixture(scope="module")
def streamed_reference(folders, tmp_path_factory):
    """The uninterrupted 2-epoch run."""
    return fit(
        tiny_config(tmp_path_factory.mktemp("streamed-reference"), **STREAMING), train=folders[0], test=folders[1]
    )


def stream_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("jaxcnn-stream", "jaxcnn-prefetch"))]


def interrupt_at_step(monkeypatch, step: int, action) -> None:
    """Run ``action`` in the loop's ``add_metrics`` of training step ``step`` (one call per step)."""
    original, calls = loop_module.add_metrics, [0]

    def add_metrics(total, metrics):
        calls[0] += 1
        if calls[0] == step:
            action()
        return original(total, metrics)

    monkeypatch.setattr(loop_module, "add_metrics", add_metrics)


def test_sigint_mid_epoch_leaves_no_worker_and_the_resumed_run_is_bit_identical(
    folders, streamed_reference, tmp_path, monkeypatch
):
    train, test = folders
    with monkeypatch.context() as patch:
        interrupt_at_step(patch, 3, lambda: os.kill(os.getpid(), signal.SIGINT))
        stopped = fit(tiny_config(tmp_path, **STREAMING), train=train, test=test)
    assert stopped.interrupted and int(stopped.state.step) == 3  # mid-epoch 1
    assert stream_threads() == []
    resumed = fit(tiny_config(tmp_path, resume=True, **STREAMING), train=train, test=test)
    assert_same_params(resumed.variables, streamed_reference.variables)
    assert [r["step"] for r in resumed.history] == [4, 8]
    for ours, theirs in zip(resumed.history, streamed_reference.history, strict=True):
        assert_same_sums(ours, theirs)


def test_a_keyboard_interrupt_mid_epoch_leaves_no_worker(folders, tmp_path, monkeypatch):
    def second_ctrl_c():
        raise KeyboardInterrupt

    interrupt_at_step(monkeypatch, 2, second_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_config(tmp_path, **STREAMING), train=folders[0], test=folders[1])
    assert stream_threads() == []


def test_the_device_does_not_crop_or_flip_streamed_images_again(folders, tmp_path):
    with pytest.raises(ValueError, match=r"already cropped \(RandomResizedCrop\) and flipped on the host"):
        fit(tiny_config(tmp_path, flip=True, **STREAMING), train=folders[0], test=folders[1])


def test_a_pixel_mean_of_streamed_images_is_refused(folders):
    with pytest.raises(ConfigError, match="pixel_mean: needs the training images decoded once"):
        describe_data(folders[0], TrainConfig(pixel_mean=True, image_size=32), None)
