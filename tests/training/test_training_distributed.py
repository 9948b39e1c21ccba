"""Two processes on 127.0.0.1 (jax.distributed, gloo) train what one process trains."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxcnn.training import fit, load_checkpoint
from tests.training.runs import tiny_config

WORKER = Path(__file__).with_name("worker.py")
LAUNCH_VARIABLES = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_slurm_job_id() -> int:
    """A SLURM job id whose coordinator port (jax's rule: the id modulo 4096, plus 61440) is free
    on 127.0.0.1 now."""
    for port in range(61440 + free_port() % 4096, 65536):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port - 61440
    raise RuntimeError("no free port in 61440..65535")


def launch_settings(launch: str) -> list[tuple[list[str], dict]]:
    """``(worker arguments after OUT, environment)`` of the two processes of ``launch``: the
    coordinator flags (``"flags"``); what ``srun --ntasks 2`` sets for a one-node step on this host
    (``"slurm"``: the variables jax.distributed's cluster detection reads); or the ``JAX_*``
    variables ``jaxcnn train --distributed`` reads when its flags are not given (``"jax-env"``)."""
    if launch == "flags":
        port = free_port()
        return [(["distributed", str(port), str(i)], {}) for i in range(2)]
    if launch == "slurm":
        step = {"SLURM_JOB_ID": str(free_slurm_job_id()), "SLURM_STEP_NODELIST": "localhost", "SLURM_NTASKS": "2"}
        return [(["cluster"], {**step, "SLURM_PROCID": str(i), "SLURM_LOCALID": str(i)}) for i in range(2)]
    address = f"127.0.0.1:{free_port()}"
    return [
        (["cluster"], {"JAX_COORDINATOR_ADDRESS": address, "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": str(i)})
        for i in range(2)
    ]


def run_two_processes(outs: list, logs: Path, launch: str = "flags", env: dict | None = None) -> list[tuple[int, str]]:
    """``(exit status, output)`` of the two worker processes of a distributed run launched as
    ``launch`` (see ``launch_settings``), process ``i`` given the output folder ``outs[i]`` and the
    environment of this process without its SLURM and ``JAX_*`` launch variables, plus ``env``.
    Their output goes to files in ``logs``, not pipes: a process whose pipe nobody drains (while
    the other is waited for) blocks on a full pipe mid-collective, and then both wait forever."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", *LAUNCH_VARIABLES))}
    procs, files = [], [logs / f"{launch}-process{i}.log" for i in range(len(outs))]
    for out, log, (arguments, launch_env) in zip(outs, files, launch_settings(launch)):
        with log.open("w") as output:
            command = [sys.executable, str(WORKER), arguments[0], str(out), *arguments[1:]]
            environment = {**clean, **(env or {}), **launch_env}
            procs.append(subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environment))
    deadline = time.monotonic() + 300
    for p in procs:  # a process still running at the deadline is killed: exit status -9
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return [(p.returncode, log.read_text()) for p, log in zip(procs, files)]


@pytest.mark.slow
def test_two_processes_train_the_parameters_of_one_however_launched(tiny_data, tmp_path):
    """Launched as a SLURM step (no flags: jax's cluster detection), then with the ``JAX_*``
    variables, with one persistent compilation cache (as a user's reruns): each run gives the
    parameters one process trains. With the cache, the second run would read its programs back
    from it and wait forever in its first collective on JAX 0.12. (The coordinator flags reach
    ``jax.distributed.initialize`` as the ``JAX_*`` variables do; the flags launch is
    ``test_an_output_folder_local_to_each_host...``'s.)"""
    train, test = tiny_data
    single = fit(tiny_config(tmp_path / "one", max_steps=6, lr=0.01), train=train, test=test)
    cache = {
        "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "xla-cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }
    for launch in ("slurm", "jax-env"):
        out = tmp_path / launch
        for i, (status, output) in enumerate(run_two_processes([out, out], tmp_path, launch, cache)):
            assert status == 0, f"{launch}: {output}"
            assert f"process {i} of 2: 4 devices, step 6" in output
        _, variables = load_checkpoint(out)
        # Same global batches and keys; only the order of float32 sums differs. lr=0.01 keeps six
        # steps from amplifying that rounding (at lr=0.1 even 1 vs 4 devices in one process drift
        # apart by 2%); a process training on its half of the batch alone would be off by far more.
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
