"""Compile time of a jitted forward+backward against depth, scanned and unrolled.

    python benchmarks/compile_time.py [--models resnet20 resnet56 resnet110 resnet1202] [--repeats 3]

For each model and layout (``scan=None``: the default, scanning stages that repeat a block
12+ times; ``scan=True``; ``scan=False``) it traces, lowers and compiles ``jax.grad`` of the
train-mode loss at batch 8, 32x32, and then times one compiled step. Figures are medians of
``--repeats`` fresh compilations. Unrolling is skipped above ``--max-unrolled`` blocks.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import optax

from jaxcnn.models import create_model


def grad_fn(model, variables, x, labels):
    def loss(params):
        logits, _ = model.apply({**variables, "params": params}, x, train=True, mutable=["batch_stats"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    return jax.grad(loss)


def measure(name: str, scan, repeats: int) -> tuple[float, float]:
    """(median compile seconds, median step seconds) of fwd+bwd at batch 8, 32x32."""
    model = create_model(name, scan=scan)
    x, labels = jnp.ones((8, 32, 32, 3)), jnp.zeros(8, jnp.int32)
    variables = jax.jit(model.init)(jax.random.key(0), x)
    compiles, steps = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        compiled = jax.jit(grad_fn(model, variables, x, labels)).lower(variables["params"]).compile()
        compiles.append(time.perf_counter() - start)
        jax.block_until_ready(compiled(variables["params"]))
        start = time.perf_counter()
        jax.block_until_ready(compiled(variables["params"]))
        steps.append(time.perf_counter() - start)
    return statistics.median(compiles), statistics.median(steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet20", "resnet56", "resnet110", "resnet1202"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-unrolled", type=int, default=110, help="skip unrolled nets deeper than this")
    args = parser.parse_args()
    print(f"{jax.devices()[0].device_kind}, jax {jax.__version__}; batch 8, 32x32, median of {args.repeats}")
    print("| model | layout | compile (s) | fwd+bwd step (s) |\n|---|---|---|---|")
    for name in args.models:
        depth = int(name.removeprefix("resnet"))
        for label, scan in (("default", None), ("scan", True), ("unrolled", False)):
            if scan is False and depth > args.max_unrolled:
                continue
            compile_s, step_s = measure(name, scan, args.repeats)
            print(f"| {name} | {label} | {compile_s:.1f} | {step_s:.3f} |", flush=True)


if __name__ == "__main__":
    main()
