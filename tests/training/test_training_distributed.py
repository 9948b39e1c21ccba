"""Two processes on 127.0.0.1 (jax.distributed, gloo) train what one process trains."""

import os
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


def free_slurm_port() -> tuple[int, int]:
    """``(job id, port)``: a SLURM job id whose coordinator port (jax's rule: the id modulo 4096 plus
    61440) is free on 127.0.0.1 now."""
    for port in range(61440 + free_port() % 4096, 65536):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port - 61440, port
    raise RuntimeError("no free port in 61440..65535")


def launches(launch: str) -> list[tuple[list[str], dict]]:
    """``(worker arguments after OUT, environment)`` of the two processes of ``launch``: the
    coordinator flags; what ``srun --ntasks 2`` sets for a one-node step on this host (the
    variables jax.distributed's cluster detection reads; the job id picks a free coordinator
    port); or the ``JAX_*`` variables ``jaxcnn train --distributed`` reads without its flags."""
    if launch == "flags":
        port = free_port()
        return [(["distributed", str(port), str(i)], {}) for i in range(2)]
    if launch == "slurm":
        job, _ = free_slurm_port()
        step = {"SLURM_JOB_ID": str(job), "SLURM_STEP_NODELIST": "localhost", "SLURM_STEP_NUM_NODES": "1"}
        return [
            (["cluster"], {**step, "SLURM_NTASKS": "2", "SLURM_PROCID": str(i), "SLURM_LOCALID": str(i)})
            for i in range(2)
        ]
    address = f"127.0.0.1:{free_port()}"
    return [
        (["cluster"], {"JAX_COORDINATOR_ADDRESS": address, "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": str(i)})
        for i in range(2)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("launch", ["flags", "slurm", "jax-env"])
def test_two_processes_train_the_parameters_of_one(launch, tiny_data, tmp_path):
    """Launched with the coordinator flags, as a SLURM step (no flags: jax's cluster detection), or
    with the ``JAX_*`` variables: the same parameters as one process."""
    out = tmp_path / "two"
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLURM_", "JAX_COORDINATOR", "JAX_NUM_PROC", "JAX_PROCESS"))
    }
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), arguments[0], str(out), *arguments[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**clean, **environment},
        )
        for arguments, environment in launches(launch)
    ]
    try:
        outputs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    for i, (p, output) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, output
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
    port = free_port()
    outs = [tmp_path / "host0" / "run", tmp_path / "host1" / "run"]
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "distributed", str(out), str(port), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i, out in enumerate(outs)
    ]
    try:
        outputs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, out, output in zip(procs, outs, outputs):
        assert p.returncode != 0, output
        assert f"the output folder {out} is not shared by the run's processes: process 1 cannot read" in output
        assert not out.exists()
