"""The documentation site builds with ``mkdocs build --strict`` (a broken link, a missing page or a
docstring griffe cannot read fails it), and its API reference documents every public name."""

import importlib
import importlib.util
import inspect
import os
import subprocess
import sys
import zlib

import pytest

from tests.scripts import ROOT

PACKAGES = ("jaxcnn", "jaxcnn.models", "jaxcnn.ops", "jaxcnn.training", "jaxcnn.data", "jaxcnn.inspect")
PACKAGES += ("jaxcnn.autodiff", "jaxcnn.convert", "jaxcnn.bench", "jaxcnn.serve")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip('the docs tools are not installed: pip install -e ".[docs]"')
    out = tmp_path_factory.mktemp("site")
    env = os.environ | {"NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def documented(site) -> set[str]:
    """The Python objects in the site's inventory (``objects.inv``, Sphinx's format)."""
    data = (site / "objects.inv").read_bytes()
    body = data.split(b"\n", 4)[4]  # four header lines, then zlib
    return {line.split()[0] for line in zlib.decompress(body).decode().splitlines() if " py:" in line}


def test_the_site_builds_with_every_page(site):
    for page in ("index", "getting-started", "training", "reliability", "results", "notebooks/backpropagation"):
        assert (site / page / "index.html").is_file() or (site / f"{page}.html").is_file(), page


def test_every_public_name_is_in_the_api_reference(site):
    names = documented(site)
    missing = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.ismodule(obj):  # a submodule re-exported by name (jaxcnn.models.resnet)
                canonical = obj.__name__
            else:
                canonical = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
            if f"{package}.{name}" not in names and canonical not in names:
                missing.append(f"{package}.{name}")
    assert not missing, f"not in docs/api: {missing}"
