"""Build tests/fixtures/torchvision/<model>.json and .npz: torchvision's outputs for random weights.

For every model, each state_dict entry is drawn in the state_dict's order by
``jaxcnn.convert.testing.random_state_dict`` from a seed; torchvision runs in eval mode on
seeded random inputs. Only the keys, shapes, seeds and outputs are stored (a few hundred KB in
all); tests/convert/test_convert_parity.py draws the same weights and inputs with numpy alone.

Needs torch and torchvision (and jaxcnn importable):

    pip install torch==2.14.1 torchvision==0.29.1 && pip install -e .
    python tools/make_torchvision_fixtures.py [--out tests/fixtures/torchvision] [model ...]
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np
import torch
import torchvision

from jaxcnn.convert.testing import random_images, random_state_dict

BATCH = 2
WEIGHT_SEED = 0
ODD_SIZE = (197, 233)

# torchvision builder kwargs and the (module, channels, sizes) whose outputs are stored; module
# "" is the whole model on images, the others are auxiliary classifiers on feature maps.
MODELS = {
    "vgg11_bn": ({}, [("", 3, [(224, 224), ODD_SIZE])]),
    "vgg16": ({}, [("", 3, [(224, 224), ODD_SIZE])]),
    "googlenet": (
        {"aux_logits": True, "transform_input": False, "init_weights": False},
        [("", 3, [(224, 224), ODD_SIZE]), ("aux1", 512, [(14, 14), (13, 15)]), ("aux2", 528, [(14, 14), (13, 15)])],
    ),
    "inception_v3": (
        {"aux_logits": True, "transform_input": False, "init_weights": False},
        [("", 3, [(299, 299), ODD_SIZE]), ("AuxLogits", 768, [(17, 17), (19, 23)])],
    ),
    "resnet18": ({}, [("", 3, [(224, 224), ODD_SIZE])]),
    "resnet50": ({}, [("", 3, [(224, 224), ODD_SIZE])]),
    "resnet152": ({}, [("", 3, [(224, 224), ODD_SIZE])]),
}


def build(name: str, out: pathlib.Path) -> None:
    kwargs, outputs = MODELS[name]
    model = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    spec = [(key, list(value.shape)) for key, value in model.state_dict().items()]
    weights = random_state_dict(spec, WEIGHT_SEED)
    model.load_state_dict({key: torch.from_numpy(value) for key, value in weights.items()}, strict=True)
    cases, results = [], {}
    for module, channels, sizes in outputs:
        for height, width in sizes:
            case = {
                "name": f"{module or 'logits'}_{height}x{width}",
                "module": module,
                "shape": [BATCH, height, width, channels],
                "seed": len(cases) + 1,
            }
            x = torch.from_numpy(random_images(case["seed"], *case["shape"]).transpose(0, 3, 1, 2).copy())
            with torch.no_grad():
                results[case["name"]] = (model.get_submodule(module) if module else model)(x).numpy()
            cases.append(case)
            print(f"{name} {case['name']}: max |output| {np.abs(results[case['name']]).max():.3f}")
    description = {
        "model": name,
        "torchvision_kwargs": kwargs,
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__},
        "weight_seed": WEIGHT_SEED,
        "cases": cases,
        "state_dict": spec,
    }
    (out / f"{name}.json").write_text(json.dumps(description, separators=(",", ":")) + "\n")
    np.savez_compressed(out / f"{name}.npz", **results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", choices=[[], *MODELS], help="default: all")
    parser.add_argument(
        "--out", type=pathlib.Path, default=pathlib.Path(__file__).parents[1] / "tests/fixtures/torchvision"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.models or MODELS:
        build(name, args.out)


if __name__ == "__main__":
    main()
