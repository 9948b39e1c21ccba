"""`jaxcnn train --data PNG_FOLDER` against `jaxcnn train --data fashion_mnist_small`, same settings.

    python tools/export_image_folder.py /tmp/fmnist_png      # 20,000 + 10,000 PNGs
    python benchmarks/folder_vs_named.py /tmp/fmnist_png --epochs 1

Runs both commands one after the other (each in its own process, as a user would) with the flags
given after the folder, and appends one row per run to
``benchmarks/results/folder-vs-named/<date>.jsonl``: the command, the test (validation) accuracy
and loss of the last epoch, the training images per second and the wall time. The folder's
images are the dataset's pixels, but the folder lists them class by class, so the two runs see
the same images in different orders: their accuracies agree within run-to-run noise, not to the
bit (tests/training/test_training_folder.py shows bit-identity when the orders agree).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "folder-vs-named"


def run(data: str, flags: list[str], out: Path) -> dict:
    """Train on ``data`` into ``out`` with ``flags``; the run's last metrics row, command and wall time."""
    command = [sys.executable, "-m", "jaxcnn", "train", "--data", data, "--out", str(out), "--no-progress", *flags]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    shown = ["jaxcnn", "train", "--data", data, *flags]
    return {
        "command": " ".join(shown),
        "test_accuracy": last["test_accuracy"],
        "test_loss": last["test_loss"],
        "epochs": last["epoch"],
        "steps": last["step"],
        "images_per_second": last["images_per_second"],
        "wall_s": round(wall, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="the PNG export of fashion_mnist_small (tools/export_image_folder.py)")
    args, flags = parser.parse_known_args(argv)
    import jax

    context = {
        "date": datetime.date.today().isoformat(),
        "jax": jax.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {jax.devices()[0].device_kind}",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{context['date']}.jsonl"
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in (("folder", args.folder), ("named", "fashion_mnist_small")):
            row = {"run": name, **run(data, flags, Path(tmp) / name), **context}
            with path.open("a") as results:
                results.write(json.dumps(row) + "\n")
            print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
