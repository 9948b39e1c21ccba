"""One of two processes started by test_data_placement.py: usage ``multiprocess_worker.py PORT ID``.

Each process joins a 2-process jax.distributed run on 127.0.0.1 with 4 CPU
devices, feeds its slice of a global batch to ``to_device`` and checks that the
shards on its devices hold the right rows of the global batch.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.scripts import xla_flags_with_devices  # noqa: E402

os.environ["XLA_FLAGS"] = xla_flags_with_devices(4)

import jax  # noqa: E402
import numpy as np  # noqa: E402

from jaxcnn.data import Dataset, data_sharding, to_device, train_batches  # noqa: E402


def main(port: int, process_id: int) -> None:
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process_id)
    assert jax.device_count() == 8 and jax.local_device_count() == 4
    n = 40
    images = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 1), np.uint8)
    ds = Dataset(images, (np.arange(n) % 5).astype(np.int32), tuple("abcde"), "memory")
    whole = next(train_batches(ds, 16, seed=3, epoch=1))
    mine = next(
        train_batches(ds, 16, seed=3, epoch=1, process_index=jax.process_index(), process_count=jax.process_count())
    )
    placed = to_device(mine, data_sharding())
    for key, array in placed.items():
        assert array.shape == whole[key].shape, (key, array.shape)
        for shard in array.addressable_shards:
            np.testing.assert_array_equal(np.asarray(shard.data), whole[key][shard.index])
    print(f"process {process_id}: {len(placed['image'].addressable_shards)} shards ok", flush=True)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
