"""Where jaxcnn's CPU step loses time to PyTorch's: each convolution of a model, alone, in both.

    python benchmarks/conv_layers_vs_pytorch.py [--model resnet20] [--size 28] [--channels 1]
        [--batch 32,128] [--repeats 7] [--results FILE]

For every distinct convolution of the model (read from ``jaxcnn.summary``: kernel, stride,
channels and map size; padding k//2, as in ResNet), at each batch size: milliseconds of the
forward pass, the input gradient and the weight gradient, each jitted alone — jaxcnn's as the
backend ``create_model`` chooses computes it (``$JAXCNN_CONV``, else the platform's), and
PyTorch's ``conv2d`` / ``convolution_backward`` (oneDNN on a CPU) in its faster memory layout.
The per-step totals weight each layer by how often the model uses it, so they can be set
beside the whole step of ``benchmarks/cpu_vs_pytorch.py``. PyTorch is optional: without it
only the jaxcnn columns are filled. Writes one JSON file (default
``benchmarks/results/<today>-conv-layers-<model>.json``) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import collections
import json
import shlex
import statistics
import sys
from pathlib import Path

import jax

import jaxcnn
from jaxcnn.bench.device import environment
from jaxcnn.bench.rows import dated_path
from jaxcnn.bench.spec import time_calls
from jaxcnn.bench.torch_side import import_error
from jaxcnn.ops import output_size, resolve_backend

PARTS = ("forward", "input grad", "weight grad")

RESULTS = Path(__file__).resolve().parent / "results"


def layer_shapes(model_name: str, size: int, channels: int) -> collections.Counter:
    """How often each convolution ``(map, in, out, kernel, stride, stem)`` occurs (map: the
    input's side; stem: it reads the image, so a train step needs no input gradient of it)."""
    model = jaxcnn.create_model(model_name, num_classes=10, in_channels=channels)
    rows = jaxcnn.summary(model, (1, size, size, channels)).rows
    return collections.Counter(
        (r.shape[1] * r.stride[0], *r.features, r.kernel[0], r.stride[0], r.stem) for r in rows if r.kind == "conv"
    )


def median_ms(call, repeats: int, calls_per_block: int = 5) -> float:
    """Milliseconds per ``call()`` (each blocks until its result is ready): the median of
    ``repeats`` blocks of ``calls_per_block`` calls, after one untimed call."""
    no_sync = lambda _: None  # noqa: E731
    seconds, _ = time_calls(lambda _: call(), None, no_sync, warmup=1, steps=calls_per_block, repeats=repeats)
    return 1e3 * statistics.median(seconds) / calls_per_block


def jax_parts(batch: int, side: int, cin: int, cout: int, k: int, stride: int, repeats: int) -> list[float]:
    """jaxcnn's forward, input-gradient and weight-gradient milliseconds for one layer."""
    strides, padding = (stride, stride), ((k // 2, k // 2),) * 2
    out_side = output_size(side, k, stride, padding[0])
    conv = resolve_backend().conv
    x = jax.random.normal(jax.random.key(0), (batch, side, side, cin))
    w = jax.random.normal(jax.random.key(1), (k, k, cin, cout))
    g = jax.random.normal(jax.random.key(2), (batch, out_side, out_side, cout))
    apply = lambda x, w: conv(x, w, strides, padding)  # noqa: E731
    parts = (
        jax.jit(apply),
        jax.jit(lambda x, w: jax.vjp(lambda x: apply(x, w), x)[1](g)),  # the unused forward is dropped
        jax.jit(lambda x, w: jax.vjp(lambda w: apply(x, w), w)[1](g)),
    )
    return [median_ms(lambda f=f: jax.block_until_ready(f(x, w)), repeats) for f in parts]


def torch_parts(batch: int, side: int, cin: int, cout: int, k: int, stride: int, repeats: int) -> list[float]:
    """PyTorch's milliseconds for the same three parts, each the faster of its two memory layouts."""
    import torch

    layouts = (torch.contiguous_format, torch.channels_last)
    times = [torch_layout_parts(batch, side, cin, cout, k, stride, repeats, layout) for layout in layouts]
    return [min(part) for part in zip(*times, strict=True)]


def torch_layout_parts(batch, side, cin, cout, k, stride, repeats, layout) -> list[float]:
    """PyTorch's forward, input-gradient and weight-gradient milliseconds in one memory layout."""
    import torch

    x = torch.randn(batch, cin, side, side).to(memory_format=layout)
    w = torch.randn(cout, cin, k, k).to(memory_format=layout)
    g = torch.randn_like(torch.nn.functional.conv2d(x, w, None, stride, k // 2)).to(memory_format=layout)
    geometry = ([stride] * 2, [k // 2] * 2, [1, 1], False, [0, 0], 1)
    calls = (
        lambda: torch.nn.functional.conv2d(x, w, None, stride, k // 2),
        lambda: torch.ops.aten.convolution_backward(g, x, w, None, *geometry, [True, False, False]),
        lambda: torch.ops.aten.convolution_backward(g, x, w, None, *geometry, [False, True, False]),
    )
    return [median_ms(call, repeats) for call in calls]


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def markdown(rows: list[dict]) -> str:
    """The rows as a markdown table, with per-step totals per batch size."""
    lines = [
        "| batch | map | in->out | kernel/stride | uses | jaxcnn fwd / dx / dW ms | PyTorch fwd / dx / dW ms | ratio |",
        "|---:|---:|---|---|---:|---|---|---:|",
    ]
    for r in rows:
        torch_ms = " / ".join(f"{t:.2f}" for t in r["torch_ms"]) if r["torch_ms"] else "-"
        ratio = f"{sum(r['torch_ms']) / sum(r['jax_ms']):.2f}" if r["torch_ms"] else "-"
        lines.append(
            f"| {r['batch']} | {r['map']} | {r['in']}->{r['out']} | {r['kernel']}x{r['kernel']}/{r['stride']} "
            f"| {r['uses']} | {' / '.join(f'{t:.2f}' for t in r['jax_ms'])} | {torch_ms} | {ratio} |"
        )
    for batch in sorted({r["batch"] for r in rows}):
        mine = [r for r in rows if r["batch"] == batch]
        jax_total = step_ms(mine, "jax_ms")
        torch_total = step_ms(mine, "torch_ms") if all(r["torch_ms"] for r in mine) else None
        versus = f", PyTorch {torch_total:.1f} ms (ratio {torch_total / jax_total:.2f})" if torch_total else ""
        lines.append(f"\nBatch {batch}, the convolutions of one train step: jaxcnn {jax_total:.1f} ms{versus}.")
    return "\n".join(lines)


def step_ms(rows: list[dict], key: str) -> float:
    """Milliseconds of every convolution part a train step runs: each layer times its uses,
    without the stem's input gradient."""
    return sum(r["uses"] * (sum(r[key]) - (r[key][1] if r["stem"] else 0.0)) for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--batch", default="32,128")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--results", default=None)
    args = parser.parse_args(argv)
    missing = import_error("torch")
    if missing:
        print(f"PyTorch columns skipped: {missing}", file=sys.stderr)
    rows = []
    for batch in map(int, args.batch.split(",")):
        for (side, cin, cout, k, stride, stem), uses in sorted(
            layer_shapes(args.model, args.size, args.channels).items()
        ):
            shape = (batch, side, cin, cout, k, stride, args.repeats)
            rows.append(
                {
                    "batch": batch,
                    "map": side,
                    "in": cin,
                    "out": cout,
                    "kernel": k,
                    "stride": stride,
                    "uses": uses,
                    "stem": stem,
                    "jax_ms": jax_parts(*shape),
                    "torch_ms": None if missing else torch_parts(*shape),
                }
            )
    command = "python " + shlex.join(["benchmarks/conv_layers_vs_pytorch.py", *(argv or sys.argv[1:])])
    path = Path(args.results) if args.results else dated_path(RESULTS, f"conv-layers-{args.model}").with_suffix(".json")
    payload = {
        "command": command,
        "torch_threads": None if missing else _torch_threads(),
        "conv_impl": resolve_backend().name,
        "parts": PARTS,
        "environment": environment(),
        "rows": rows,
    }
    path.write_text(json.dumps(payload, indent=1) + "\n")
    print(markdown(rows))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
