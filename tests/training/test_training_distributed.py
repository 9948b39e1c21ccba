"""Two processes on 127.0.0.1 (jax.distributed, gloo) train what one process trains."""

import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxcnn.training import fit, load_checkpoint
from tests.training.runs import tiny_config

WORKER = Path(__file__).with_name("worker.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_processes(outs: list, logs: Path) -> list[tuple[int, str]]:
    """``(exit status, output)`` of the two worker processes of a distributed run, process ``i``
    given the output folder ``outs[i]``. Their output goes to files in ``logs``, not pipes: a
    process whose pipe nobody drains (while the other is waited for) blocks on a full pipe
    mid-collective, and then both wait forever."""
    port = free_port()
    files = [logs / f"process{i}.log" for i in range(len(outs))]
    procs = []
    for i, (out, log) in enumerate(zip(outs, files)):
        with log.open("w") as output:
            command = [sys.executable, str(WORKER), "distributed", str(out), str(port), str(i)]
            procs.append(subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT))
    try:
        for p in procs:
            p.wait(timeout=300)
    finally:
        for p in procs:
            p.kill()
    return [(p.returncode, log.read_text()) for p, log in zip(procs, files)]


@pytest.mark.slow
def test_two_processes_train_the_parameters_of_one(tiny_data, tmp_path):
    out = tmp_path / "two"
    for i, (status, output) in enumerate(run_two_processes([out, out], tmp_path)):
        assert status == 0, output
        assert f"process {i} of 2: 4 devices, step 6" in output
    train, test = tiny_data
    single = fit(tiny_config(tmp_path / "one", max_steps=6, lr=0.01), train=train, test=test)
    _, variables = load_checkpoint(out)
    # Same global batches and keys; only the order of float32 sums differs. lr=0.01 keeps six steps
    # from amplifying that rounding (at lr=0.1 even 1 vs 4 devices in one process drift apart by 2%);
    # a process training on its half of the batch alone would be off by far more than 0.1%.
    for a, b in zip(jax.tree.leaves(single.variables), jax.tree.leaves(variables), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-3 * float(np.abs(a).max()))


@pytest.mark.slow
def test_an_output_folder_local_to_each_host_is_refused_by_every_process_at_start(tmp_path):
    """Two "hosts" whose --out are different folders (as a path on each host's local disk): both
    processes stop at once with one message, before any data loads, and leave no folder behind."""
    outs = [tmp_path / "host0" / "run", tmp_path / "host1" / "run"]
    for out, (status, output) in zip(outs, run_two_processes(outs, tmp_path)):
        assert status != 0, output
        assert f"the output folder {out} is not shared by the run's processes: process 1 cannot read" in output
        assert not out.exists()
