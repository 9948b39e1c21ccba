"""Build tests/fixtures/torch_files/: small files written by ``torch.save`` and what torch reads back.

``zip.pth`` (torch.save's format since PyTorch 1.6) and ``legacy.pth`` (``_use_new_zipfile_serialization
=False``, the format of most weights published before 2020) hold the same state_dict: every dtype
a checkpoint uses, a Parameter, a transposed view, a row view sharing its storage with another
tensor, a scalar and an empty tensor, in an OrderedDict with torch's ``_metadata``. ``expected.npz``
holds what ``torch.load(..., weights_only=True)`` gives for each key (bfloat16 widened to float32),
so tests/convert/test_torch_files.py checks jaxcnn's torch-free reader against torch's own.

    pip install torch==2.14.1 && python tools/make_torch_file_fixtures.py [--out tests/fixtures/torch_files]
"""

from __future__ import annotations

import argparse
import collections
import pathlib

import numpy as np
import torch


def state_dict() -> collections.OrderedDict:
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(3, 4, generator=generator)
    saved = collections.OrderedDict(
        {
            "conv.weight": torch.randn(2, 3, 3, 3, generator=generator),
            "fc.weight": torch.nn.Parameter(torch.randn(5, 4, generator=generator)),
            "fc.weight_t": base.t(),
            "fc.row": base[1],
            "fc.base": base,
            "bn.num_batches_tracked": torch.tensor(7),
            "half": torch.randn(3, generator=generator).half(),
            "bf16": torch.randn(3, generator=generator).bfloat16(),
            "double": torch.randn(2, generator=generator).double(),
            "int32": torch.arange(4, dtype=torch.int32),
            "uint8": torch.arange(250, 256, dtype=torch.uint8),
            "bool": torch.tensor([True, False, True]),
            "empty": torch.zeros(0, 3),
        }
    )
    saved._metadata = collections.OrderedDict({"": {"version": 1}})
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("tests/fixtures/torch_files"))
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    saved = state_dict()
    torch.save(saved, out / "zip.pth")
    torch.save(saved, out / "legacy.pth", _use_new_zipfile_serialization=False)
    for name in ("zip.pth", "legacy.pth"):
        loaded = torch.load(out / name, weights_only=True)
        assert list(loaded) == list(saved), name
    loaded = torch.load(out / "zip.pth", weights_only=True)
    widen = {k: (v.float() if v.dtype == torch.bfloat16 else v).detach().numpy() for k, v in loaded.items()}
    np.savez(out / "expected.npz", **widen)
    print(f"wrote {out}/zip.pth, legacy.pth and expected.npz (torch {torch.__version__})")


if __name__ == "__main__":
    main()
