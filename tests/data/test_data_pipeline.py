"""Host batching: seeded resumable order, dropped/padded remainders, process slices."""

import numpy as np
import pytest

from jaxcnn.data import Dataset, epoch_order, eval_batches, steps_per_epoch, train_batches


def numbered(n, classes=7):
    """Image i carries i in its first two pixels (base 256); its label is i % classes."""
    images = np.zeros((n, 4, 4, 1), np.uint8)
    images[:, 0, 0, 0], images[:, 0, 1, 0] = np.arange(n) // 256, np.arange(n) % 256
    return Dataset(images, (np.arange(n) % classes).astype(np.int32), tuple(map(str, range(classes))), "memory")


def ids(batch):
    return batch["image"][:, 0, 0, 0].astype(int) * 256 + batch["image"][:, 0, 1, 0]


def test_epoch_order_is_a_permutation_fixed_by_seed_and_epoch():
    order = epoch_order(50, seed=3, epoch=1)
    np.testing.assert_array_equal(np.sort(order), np.arange(50))
    np.testing.assert_array_equal(order, epoch_order(50, seed=3, epoch=1))
    assert not np.array_equal(order, epoch_order(50, seed=3, epoch=2))
    assert not np.array_equal(order, epoch_order(50, seed=4, epoch=1))


def test_epoch_order_places_each_example_uniformly():
    # Where example 0 lands over 2000 epochs: chi-square against uniform over 10
    # places, 9 degrees of freedom, critical value 27.88 at p = 0.001.
    places = np.array([np.flatnonzero(epoch_order(10, 0, e) == 0)[0] for e in range(2000)])
    counts = np.bincount(places, minlength=10)
    chi2 = ((counts - 200.0) ** 2 / 200.0).sum()
    assert chi2 < 27.88, counts


def test_train_batches_cover_the_shuffled_epoch_once_and_drop_the_remainder():
    ds = numbered(103)
    batches = list(train_batches(ds, 10, seed=5, epoch=2))
    assert steps_per_epoch(103, 10) == 10 == len(batches)
    seen = np.concatenate([ids(b) for b in batches])
    np.testing.assert_array_equal(seen, epoch_order(103, 5, 2)[:100])
    for b in batches:
        np.testing.assert_array_equal(b["label"], ids(b) % 7)
        assert b["image"].dtype == np.uint8 and b["label"].dtype == np.int32
    # index = (epoch * steps + batch) * batch_size + row = 200, 201, ..., 299
    np.testing.assert_array_equal(np.concatenate([b["index"] for b in batches]), np.arange(200, 300))
    assert batches[0]["index"].dtype == np.int32


def test_train_batches_resume_mid_epoch():
    ds = numbered(64)
    full = list(train_batches(ds, 8, seed=1, epoch=3))
    resumed = list(train_batches(ds, 8, seed=1, epoch=3, start_batch=5))
    assert len(resumed) == 3
    for a, b in zip(full[5:], resumed):
        for key in ("image", "label", "index"):
            np.testing.assert_array_equal(a[key], b[key])


def test_process_slices_concatenate_to_the_global_batch():
    ds = numbered(40)
    whole = list(train_batches(ds, 8, seed=0, epoch=0))
    parts = [list(train_batches(ds, 8, seed=0, epoch=0, process_index=p, process_count=4)) for p in range(4)]
    for step, batch in enumerate(whole):
        for key in ("image", "label", "index"):
            np.testing.assert_array_equal(batch[key], np.concatenate([parts[p][step][key] for p in range(4)]))
        assert len(parts[1][step]["label"]) == 2


def test_eval_batches_count_every_example_once_with_a_padded_masked_tail():
    ds = numbered(23)
    batches = list(eval_batches(ds, 10))
    assert len(batches) == 3
    assert [b["mask"].sum() for b in batches] == [10, 10, 3]
    real = np.concatenate([ids(b)[b["mask"]] for b in batches])
    np.testing.assert_array_equal(real, np.arange(23))
    tail = batches[-1]
    assert tail["image"].shape == (10, 4, 4, 1) and tail["mask"].dtype == bool
    assert not tail["image"][~tail["mask"]].any() and not tail["label"][~tail["mask"]].any()


def test_eval_batches_split_over_processes():
    ds = numbered(23)
    parts = [list(eval_batches(ds, 10, process_index=p, process_count=2)) for p in range(2)]
    real = np.concatenate([ids(parts[p][s])[parts[p][s]["mask"]] for s in range(3) for p in range(2)])
    np.testing.assert_array_equal(real, np.arange(23))


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda ds: train_batches(ds, 11, seed=0, epoch=0), "larger than the 10"),
        (lambda ds: train_batches(ds, 4, seed=0, epoch=0, start_batch=3), "start_batch must be in 0..2"),
        (lambda ds: train_batches(ds, 4, seed=-1, epoch=0), "seed must be an integer >= 0, got -1"),
        (lambda ds: train_batches(ds, 4, seed=0, epoch=0, process_count=3), "not divisible by process_count 3"),
        (
            lambda ds: train_batches(ds, 4, seed=0, epoch=0, process_index=2, process_count=2),
            "process_index must be in 0..1",
        ),
        (lambda ds: train_batches(ds, 4, seed=0, epoch=2**30), "2\\*\\*31"),
        (lambda ds: eval_batches(ds, 0), "batch_size must be a positive int"),
    ],
)
def test_bad_arguments_fail_at_the_call(call, words):
    with pytest.raises(ValueError, match=words):
        call(numbered(10))


def torchvision_ra_sampler(order, repetitions, num_replicas, rank, n):
    """torchvision's references/classification/sampler.py ``RASampler.__iter__``, as it is written,
    with ``order`` in place of its ``torch.randperm``."""
    num_samples = int(np.ceil(n * float(repetitions) / num_replicas))
    total_size = num_samples * num_replicas
    num_selected_samples = int(np.floor(n // 256 * 256 / num_replicas))
    indices = [ele for ele in order.tolist() for i in range(repetitions)]
    indices += indices[: (total_size - len(indices))]
    indices = indices[rank:total_size:num_replicas]
    return indices[:num_selected_samples]


@pytest.mark.parametrize("replicas", [1, 4])
def test_repeated_augmentation_deals_each_device_what_torchvisions_sampler_gives_its_rank(replicas):
    """1024 examples (torchvision's epoch keeps a multiple of 256), 3 copies, global batch 64."""
    n, batch, k = 1024, 64, 3
    ds = numbered(n)
    batches = list(train_batches(ds, batch, seed=2, epoch=1, repetitions=k, replicas=replicas))
    order = epoch_order(n, 2, 1)
    per_device = batch // replicas
    for rank in range(replicas):
        ours = np.concatenate([ids(b)[rank * per_device : (rank + 1) * per_device] for b in batches])
        np.testing.assert_array_equal(ours, torchvision_ra_sampler(order, k, replicas, rank, n))
    seen = np.concatenate([ids(b) for b in batches])
    assert len(seen) == n  # the epoch keeps its length
    _, copies = np.unique(seen, return_counts=True)
    assert len(copies) == -(-n // k) and np.sum(copies != k) <= 1  # each example k times (the last may be cut)
    indices = np.concatenate([b["index"] for b in batches])
    assert len(np.unique(indices)) == n  # every copy has its own position, so its own augmentation


def test_repeated_copies_land_on_different_devices_of_one_batch():
    batches = list(train_batches(numbered(256), 32, seed=0, epoch=0, repetitions=4, replicas=4))
    for b in batches:
        devices = ids(b).reshape(4, 8)
        for example in np.unique(devices):
            rows = np.flatnonzero((devices == example).any(axis=1))
            assert len(rows) == (devices == example).sum()  # never two copies on one device
