"""Write an ImageNet-like image folder for throughput measurements: PATH/<class>/<n>.jpg.

    python tools/make_jpeg_folder.py PATH [--images 2000] [--classes 10] [--size 500x375] [--quality 90]

Each image is seeded by its number: smooth colour fields at several scales, a few filled shapes
and fine-grained noise, so that its JPEG is about as large (and as slow to decode) as a photo's of
the same size (ImageNet's average file is about 110 KB at about 400x350). The folder is
generated, never committed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def synthetic_photo(seed: int, width: int, height: int) -> Image.Image:
    """An RGB image of varied content at every scale, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    canvas = np.zeros((height, width, 3), np.float32)
    for cells, weight in ((2, 90.0), (8, 50.0), (32, 30.0), (128, 25.0)):
        coarse = rng.uniform(-1, 1, (cells, cells, 3)).astype(np.float32)
        field = Image.fromarray(((coarse + 1) * 127.5).astype(np.uint8)).resize((width, height), Image.BICUBIC)
        canvas += (np.asarray(field, np.float32) / 127.5 - 1) * weight
    canvas += 128 + rng.normal(0, 36, canvas.shape).astype(np.float32)
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 9))):
        x0, x1 = sorted(rng.integers(0, width, 2))
        y0, y1 = sorted(rng.integers(0, height, 2))
        fill = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=fill)
    return image


def make_folder(path: Path, images: int, classes: int, width: int, height: int, quality: int) -> None:
    """``images`` JPEGs spread evenly over ``classes`` subfolders of ``path``."""
    for n in range(images):
        folder = path / f"class_{n % classes:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        synthetic_photo(n, width, height).save(folder / f"{n:06d}.jpg", quality=quality)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--size", default="500x375", help="WIDTHxHEIGHT")
    parser.add_argument("--quality", type=int, default=90)
    args = parser.parse_args(argv)
    width, height = map(int, args.size.lower().split("x"))
    make_folder(args.path, args.images, args.classes, width, height, args.quality)
    files = sorted(args.path.rglob("*.jpg"))
    mean_kb = sum(f.stat().st_size for f in files) / len(files) / 1024
    print(f"{len(files)} JPEGs of {width}x{height} in {args.path}, {mean_kb:.0f} KB on average")


if __name__ == "__main__":
    main()
