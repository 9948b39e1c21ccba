"""Device placement on 8 simulated CPU devices (tests/conftest.py), and 2 real processes."""

import functools
import itertools
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxcnn.data import Dataset, augment, data_sharding, prefetch, to_device, train_batches

MEAN, STD = np.float32(0.3), np.float32(0.2)


@pytest.fixture(scope="module", autouse=True)
def eight_devices():
    assert jax.device_count() == 8, (
        "these tests need 8 devices: tests/conftest.py sets "
        "XLA_FLAGS=--xla_force_host_platform_device_count=8 before jax starts"
    )


def batch(size=16, side=6):
    rng = np.random.default_rng(size)
    return {
        "image": rng.integers(0, 256, (size, side, side, 1), dtype=np.uint8),
        "label": rng.integers(0, 10, size).astype(np.int32),
        "index": np.arange(1000, 1000 + size, dtype=np.int32),
    }


def test_one_device():
    host = batch()
    placed = to_device(host, jax.devices()[3])
    assert placed["image"].devices() == {jax.devices()[3]}
    np.testing.assert_array_equal(placed["label"], host["label"])
    assert to_device(host)["image"].devices() == {jax.devices()[0]}


def test_sharded_over_the_data_mesh_puts_rows_on_their_device():
    host = batch()
    placed = to_device(host, data_sharding())
    for key, array in placed.items():
        assert array.shape == host[key].shape and len(array.addressable_shards) == 8
        for i, shard in enumerate(sorted(array.addressable_shards, key=lambda s: s.device.id)):
            np.testing.assert_array_equal(shard.data, host[key][2 * i : 2 * i + 2])


def test_pmap_layout_has_a_leading_device_axis():
    host = batch()
    placed = to_device(host, pmap=True)
    assert placed["image"].shape == (8, 2, 6, 6, 1)
    per_device = jax.pmap(lambda b: b["label"].sum())(placed)
    np.testing.assert_array_equal(per_device, host["label"].reshape(8, 2).sum(axis=1))


def test_batches_that_do_not_split_are_rejected():
    with pytest.raises(ValueError, match="cannot be split over 8 devices"):
        to_device(batch(12), data_sharding())
    with pytest.raises(ValueError, match="not divisible by the 8 devices"):
        to_device(batch(12), pmap=True)
    with pytest.raises(TypeError, match="sharding must be None"):
        to_device(batch(), "data")


def test_augmented_global_batch_is_the_same_on_one_and_eight_devices():
    host = batch(32)
    aug = jax.jit(functools.partial(augment, mean=MEAN, std=STD, out_size=8))
    key = jax.random.key(11)
    single = to_device(host, jax.devices()[0])
    sharded = to_device(host, data_sharding())
    one = aug(single["image"], single["index"], key)
    eight = aug(sharded["image"], sharded["index"], key)
    assert len(eight.sharding.device_set) == 8
    np.testing.assert_array_equal(np.asarray(one), np.asarray(eight))


def wait_until_settled(pulled: list, seconds: float = 5.0) -> None:
    """Wait until the prefetch thread stops pulling (it blocks once its queue is full)."""
    deadline, seen = time.monotonic() + seconds, -1
    while time.monotonic() < deadline and len(pulled) != seen:
        seen = len(pulled)
        time.sleep(0.2)


def test_prefetch_runs_ahead_by_size_batches_in_order():
    pulled = []

    def source():
        for i in itertools.count():
            pulled.append(i)
            yield dict(batch(), label=np.full(16, i, np.int32))

    stream = prefetch(itertools.islice(source(), 9), size=2, sharding=data_sharding())
    first = next(stream)
    wait_until_settled(pulled)
    # batch 0 handed out; 1 and 2 wait in the queue, 3 waits for room: no more is pulled
    assert pulled == [0, 1, 2, 3]
    rest = list(stream)
    assert [int(b["label"][0]) for b in [first, *rest]] == list(range(9))
    assert all(len(b["image"].sharding.device_set) == 8 for b in rest)
    with pytest.raises(ValueError, match="size must be a positive int"):
        prefetch([], size=0)


def test_prefetch_raises_the_sources_error_at_its_batch():
    def source():
        yield batch()
        raise OSError("disk gone")

    stream = prefetch(source())
    assert next(stream)["image"].shape == (16, 6, 6, 1)
    with pytest.raises(OSError, match="disk gone"):
        next(stream)


def test_closing_prefetch_stops_its_thread():
    before = threading.active_count()
    stream = prefetch(batch() for _ in itertools.count())  # endless
    next(stream)
    assert threading.active_count() == before + 1
    stream.close()
    assert threading.active_count() == before


def test_prefetch_feeds_pmap():
    ds = Dataset(batch(40)["image"], np.arange(40, dtype=np.int32) % 3, ("a", "b", "c"), "m")
    batches = list(prefetch(train_batches(ds, 16, seed=0, epoch=0), pmap=True))
    assert len(batches) == 2 and batches[0]["label"].shape == (8, 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_each_feed_their_slice_of_the_global_batch():
    worker = Path(__file__).with_name("multiprocess_worker.py")
    port = free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(worker), str(port), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=180)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for i, (proc, output) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, output
        assert f"process {i}: 4 shards ok" in output
