"""Serving on a CPU: jaxcnn's evaluation forward pass in JAX, as a jax.export file and as ONNX in
onnxruntime, against PyTorch eager and PyTorch's own ONNX export in onnxruntime.

    python benchmarks/cpu_serving.py [--repeats 7] [--out benchmarks/results/cpu-serving/DATE.jsonl]

For resnet50 at 224 and resnet20 at 32 (10 classes), batch 1 and 16, with random weights (speed
does not depend on their values), one process times

- ``jaxcnn jit``: ``jaxcnn.serve.eval_forward`` jitted (what ``jaxcnn predict`` runs by default);
- ``jax.export file``: ``jaxcnn.serve.export_forward`` serialized, deserialized, its ``call`` jitted
  (what a JAX process without jaxcnn runs);
- ``jaxcnn ONNX``: ``jaxcnn.serve.onnx_forward`` in onnxruntime (``jaxcnn predict --runtime onnx``);
- ``PyTorch eager``: torchvision's model (resnet20: ``jaxcnn.bench.torch_models``' twin) under
  ``torch.inference_mode``;
- ``PyTorch's ONNX``: the same PyTorch model through ``torch.onnx.export`` (opset 17, a dynamic
  batch) in onnxruntime.

The jaxcnn engines take uint8 NHWC images and normalise inside; the PyTorch ones take float32
NCHW already normalised (a little less work). Each figure is the median of ``repeats`` blocks; the
engines take turns block by block, so a busy moment of the machine falls on all of them. PyTorch
is optional: its rows then say why they are missing. Neither onnxruntime's threads nor PyTorch's
OpenMP threads spin between runs (``OMP_WAIT_POLICY=PASSIVE``, set here before torch loads): a
spinning pool slows the engine timed next, and on a busy machine itself (PyTorch eager fell to
1% of its speed). Rows go to stdout and to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

import jax
import numpy as np

from jaxcnn.bench.device import cpu_name
from jaxcnn.bench.spec import time_calls
from jaxcnn.convert.testing import random_variables
from jaxcnn.models import create_model
from jaxcnn.ops.backend import resolve_backend
from jaxcnn.serve import Preprocessing, eval_forward, export_forward, onnx_forward

CELLS = (("resnet50", 224), ("resnet20", 32))
BATCHES = (1, 16)
NUM_CLASSES = 10
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
RESULTS = Path(__file__).resolve().parent / "results" / "cpu-serving"
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when PyTorch (imported later) starts OpenMP


def quiet_session_options():
    """onnxruntime's options with its threads' spinning off: a session otherwise keeps the cores
    busy between its runs, and the engine timed next pays for it."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def jaxcnn_engines(name: str, size: int) -> dict:
    """engine -> forward(uint8 NHWC batch) -> logits, for the three jaxcnn engines."""
    import onnxruntime

    model = create_model(name, num_classes=NUM_CLASSES)
    variables = random_variables(model, size)
    preprocessing = Preprocessing(size, size, 3, MEAN, STD)
    jitted = jax.jit(functools.partial(eval_forward(model.clone(backend=resolve_backend()), preprocessing), variables))
    exported = jax.export.deserialize(export_forward(model, variables, preprocessing, ("cpu",)).serialize())
    call = jax.jit(exported.call)
    graph = onnx_forward(model, variables, preprocessing).SerializeToString()
    session = onnxruntime.InferenceSession(graph, quiet_session_options(), providers=["CPUExecutionProvider"])
    return {
        "jaxcnn jit": lambda x: jitted(x).block_until_ready(),
        "jax.export file": lambda x: call(x).block_until_ready(),
        "jaxcnn ONNX": lambda x: session.run(None, {"images": x})[0],
    }


def torch_engines(name: str, size: int) -> dict:
    """engine -> forward(float32 NCHW batch) -> logits, for PyTorch eager and its ONNX export;
    an engine that cannot run maps to the reason."""
    try:
        import onnxruntime
        import torch

        from jaxcnn.bench.torch_models import torch_model
    except ImportError as err:
        return {"PyTorch eager": f"skipped: {err}", "PyTorch's ONNX": f"skipped: {err}"}
    net, _ = torch_model(name, 3, NUM_CLASSES)
    net.eval()

    def eager(x):
        with torch.inference_mode():
            return net(torch.from_numpy(x)).numpy()

    engines = {"PyTorch eager": eager}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        try:
            example = torch.zeros(1, 3, size, size)
            torch.onnx.export(
                net, (example,), path, input_names=["x"], dynamic_axes={"x": {0: "b"}}, opset_version=17, dynamo=False
            )
            session = onnxruntime.InferenceSession(path, quiet_session_options(), providers=["CPUExecutionProvider"])
            engines["PyTorch's ONNX"] = lambda x: session.run(None, {"x": x})[0]
        except Exception as err:  # an exporter's failure is a row saying so, not a lost run
            engines["PyTorch's ONNX"] = f"failed: {' '.join(str(err).split())[:200]}"
    return engines


def measure(name: str, size: int, batch: int, repeats: int, engines: dict) -> list[dict]:
    """One row per engine: the median images/s over ``repeats`` blocks, taken in turns."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    nchw = ((images / 255.0 - MEAN) / STD).transpose(0, 3, 1, 2).astype(np.float32)
    runnable = {e: f for e, f in engines.items() if callable(f)}
    calls = max(1, round(16 / batch))  # about 16 images per block
    seconds = {engine: [] for engine in runnable}
    inputs = {engine: images if engine.startswith(("jax", "jaxcnn")) else nchw for engine in runnable}
    for engine, forward in runnable.items():  # warm up: compile, allocate
        forward(inputs[engine])
    for _ in range(repeats):
        for engine, forward in runnable.items():
            run = functools.partial(lambda _, f, x: f(x), f=forward, x=inputs[engine])
            block, _ = time_calls(run, None, lambda _: None, warmup=0, steps=calls, repeats=1)
            seconds[engine] += block
    rows = []
    for engine, reason in engines.items():
        row = {"model": name, "image_size": size, "batch": batch, "engine": engine}
        if callable(reason):
            rate = batch * calls / statistics.median(seconds[engine])
            row.update(images_per_second=round(rate, 2), seconds=[round(s, 5) for s in seconds[engine]])
        else:
            row["note"] = reason
        rows.append(row)
    return rows


def context(command: str, repeats: int, load_before: float) -> dict:
    """Where, when and with what a run measured."""
    found = {}
    for module in ("jax", "jaxlib", "onnx", "onnxruntime", "torch"):
        try:
            found[module] = __import__(module).__version__
        except ImportError:
            found[module] = None
    return {
        "machine": cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "versions": found,
        "repeats": repeats,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "command": command,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=None, help="JSONL file to append to (default: results/cpu-serving/DATE.jsonl)")
    args = parser.parse_args(argv)
    command = "python " + shlex.join(["benchmarks/cpu_serving.py", *(sys.argv[1:] if argv is None else argv)])
    load_before, rows = os.getloadavg()[0], []
    for name, size in CELLS:
        engines = {**jaxcnn_engines(name, size), **torch_engines(name, size)}
        for batch in BATCHES:
            rows += measure(name, size, batch, args.repeats, engines)
            for row in rows[-len(engines) :]:
                rate = row.get("images_per_second")
                print(f"{name} {size}px batch {batch} {row['engine']}: {rate if rate else row['note']}", flush=True)
    stamp = context(command, args.repeats, load_before)
    out = Path(args.out or RESULTS / f"{stamp['date'][:10]}.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as file:
        file.writelines(json.dumps({**row, **stamp}) + "\n" for row in rows)
    print(f"appended {len(rows)} rows to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
