"""Where ``jaxcnn.fit``'s time goes beside the bare train step.

    python benchmarks/fit_overhead.py [--model resnet50] [--batch-size 256] [--dtype bfloat16]
                                      [--steps 50] [--repeats 3] [--results FILE]

Rates in img/s (median of ``--repeats`` blocks of ``--steps`` steps), each also as a share of
the bare step's rate:

  step          the bare train step on float32 images already on the device (``jaxcnn bench``'s train row)
  step+augment  fit's own jitted step (uint8 images, on-device crop, flip and normalisation), one device batch
  augment       the on-device transform alone, jitted
  pipeline      host batching (``train_batches``) and ``prefetch`` to the device, no computation
  fed step      fit's step fed by the pipeline: no metrics, one host sync per block
  +metrics      the same, summing the metrics on device and reading them every LOG_EVERY steps, as fit does
  fit           ``jaxcnn.fit`` end to end, epochs of ``--steps`` steps (epoch 1 is the warm-up)

A drop from one line to the next is the cost of what that line adds. Every line is built from
the code ``jaxcnn train`` runs; the rates are printed as a table and, with ``--results``, written
as JSON (``benchmarks/results/*-fit-overhead-*.json``; the README's speed section shows them).
"""

from __future__ import annotations

import argparse
import datetime
import json
import shlex
import sys
import time
from pathlib import Path

import jax

from jaxcnn.bench.jax_side import build_for, measure_step, run_fit, synthetic_dataset
from jaxcnn.bench.rows import median_rate
from jaxcnn.bench.spec import Spec, time_blocks
from jaxcnn.data import prefetch, train_batches
from jaxcnn.training import make_eval_step, make_train_step
from jaxcnn.training.config import DTYPES
from jaxcnn.training.loop import LOG_EVERY
from jaxcnn.training.parallel import Parallel, add_metrics
from jaxcnn.training.parts import initial_state, transforms

PARTS_ALONE = ("augment", "pipeline")  # lines that time a part alone, not a train step: no share of the step


def rates_table(rates: dict[str, float]) -> str:
    """The markdown table of :func:`measure`'s rates: img/s and share of ``rates['step']``."""
    lines = ["| what | img/s | share of the bare step |", "|---|---:|---:|"]
    for name, rate in rates.items():
        share = "(alone)" if name in PARTS_ALONE else f"{100 * rate / rates['step']:.1f}%"
        lines.append(f"| {name} | {rate:,.0f} | {share} |")
    return "\n".join(lines)


def fit_step(spec: Spec):
    """(fit's jitted train step with its on-device transform, its initial device state, the transform)."""
    config, info, model, tx = build_for(spec)
    augment, _ = transforms(config, info)
    step, _ = Parallel("none").compile(make_train_step(model, tx, transform=augment), make_eval_step(model))
    return step, jax.device_put(initial_state(config, info, model, tx)), augment


def measure(spec: Spec) -> dict[str, float]:
    """The seven rates (img/s) of the module docstring, in order."""
    images = spec.batch * spec.steps
    rates = {"step": measure_step(spec, (None, None)).img_s}
    data = synthetic_dataset(spec, images)
    step, state, augment = fit_step(spec)
    device_batch = jax.device_put(next(train_batches(data, spec.batch, seed=0, epoch=0)))
    seconds, state = time_blocks(lambda s: step(s, device_batch)[0], state, spec, jax.block_until_ready)
    rates["step+augment"] = median_rate(seconds, images)
    key = jax.random.key(0)
    jitted = jax.jit(lambda b: augment(b["image"], b["index"], key))
    seconds, _ = time_blocks(lambda _: jitted(device_batch), None, spec, jax.block_until_ready)
    rates["augment"] = median_rate(seconds, images)

    def epoch_blocks(run_batch, carry):
        """Median img/s of ``spec.repeats`` passes over ``data`` fed through ``prefetch``, after one
        untimed pass; ``carry = run_batch(carry, batch)`` for each batch. Returns (rate, carry)."""
        seconds = []
        for epoch in range(spec.repeats + 1):
            start = time.perf_counter()
            for batch in prefetch(train_batches(data, spec.batch, seed=0, epoch=epoch)):
                carry = run_batch(carry, batch)
            jax.block_until_ready(carry)
            seconds.append(time.perf_counter() - start)
        return median_rate(seconds[1:], images), carry

    def with_metrics(carry, batch):
        state, sums, steps = carry
        state, metrics = step(state, batch)
        sums, steps = add_metrics(sums, metrics), steps + 1
        if steps % LOG_EVERY == 0:
            jax.device_get(sums)  # fit's host sync
        return state, sums, steps

    rates["pipeline"], _ = epoch_blocks(lambda _, batch: batch, None)
    rates["fed step"], state = epoch_blocks(lambda state, batch: step(state, batch)[0], state)
    rates["+metrics"], _ = epoch_blocks(with_metrics, (state, None, 0))
    rates["fit"] = median_rate(run_fit(spec)[0], images)
    return rates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--dtype", choices=DTYPES, default="bfloat16")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", default=None, help="write the rates and the setting to this JSON file")
    parser.add_argument("--note", default="", help="what this run varied, stored with --results")
    args = parser.parse_args(argv)
    spec = Spec(
        args.model, "fit", args.batch_size, args.dtype, args.image_size, steps=args.steps, repeats=args.repeats
    ).resolved()
    rates = measure(spec)
    device = jax.devices()[0].device_kind
    print(f"{spec.model} {spec.dtype} batch {spec.batch} at {spec.image_size}px on {device}, jax {jax.__version__}")
    print(rates_table(rates))
    if args.results:
        argv_used = sys.argv[1:] if argv is None else argv
        payload = {
            **{k: getattr(spec, k) for k in ("model", "dtype", "batch", "image_size", "steps", "repeats")},
            **{"device": device, "jax": jax.__version__, "date": datetime.date.today().isoformat()},
            **{"command": shlex.join(["python", "benchmarks/fit_overhead.py", *argv_used]), "note": args.note},
            "rates": rates,
        }
        Path(args.results).write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
