"""Sort ImageNet's flat validation folder into one folder per class, as `jaxcnn train --data` reads it.

    python tools/imagenet_val_folders.py VAL_DIR LABELS_CSV

``VAL_DIR`` holds ``ILSVRC2012_val_00000001.JPEG`` ... as the official archive unpacks them;
``LABELS_CSV`` is ``ImageId,PredictionString`` per image, the first word of the prediction being
the class's WordNet id (``LOC_val_solution.csv`` of the ImageNet localisation challenge). Each
image moves to ``VAL_DIR/<wnid>/``. Nothing moves unless every image has a label and every label
an image (flat, or already in its class folder), so a run interrupted half-way is finished by
running it again.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path


def read_labels(path: Path) -> dict[str, str]:
    """``{image id: wnid}`` from a ``ImageId,PredictionString`` CSV."""
    with open(path, newline="") as file:
        rows = csv.DictReader(file)
        if rows.fieldnames is None or not {"ImageId", "PredictionString"} <= set(rows.fieldnames):
            raise ValueError(f"{path}: expected the columns ImageId,PredictionString; got {rows.fieldnames}")
        return {row["ImageId"]: row["PredictionString"].split()[0] for row in rows}


def plan(val_dir: Path, labels: dict[str, str]) -> list[tuple[Path, Path]]:
    """The moves ``(flat file, class folder file)`` still to make.

    Raises:
      ValueError: an image without a label, or a label without an image; names how many and a few.
    """
    flat = {path.stem: path for path in val_dir.glob("*.JPEG")}
    placed = {path.stem for path in val_dir.glob("n*/*.JPEG")}
    unlabelled = sorted(set(flat) - set(labels))
    missing = sorted(set(labels) - set(flat) - placed)
    for what, ids in (("images without a label", unlabelled), ("labels without an image", missing)):
        if ids:
            raise ValueError(f"{len(ids)} {what} ({', '.join(ids[:3])}, ...): nothing was moved")
    return [(path, val_dir / labels[stem] / path.name) for stem, path in sorted(flat.items())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("val_dir", type=Path, help="the flat validation folder")
    parser.add_argument("labels", type=Path, help="ImageId,PredictionString CSV (LOC_val_solution.csv)")
    args = parser.parse_args(argv)
    try:
        moves = plan(args.val_dir, read_labels(args.labels))
    except (OSError, ValueError) as err:
        print(f"imagenet_val_folders: error: {err}", file=sys.stderr)
        return 1
    for source, target in moves:
        target.parent.mkdir(exist_ok=True)
        os.replace(source, target)
    classes = len({target.parent for _, target in moves})
    print(f"moved {len(moves)} images into {classes} class folders of {args.val_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
