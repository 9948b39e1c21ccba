"""The code base stays as ruff (configured in pyproject.toml) wants it, and the version lives in pyproject.toml only."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", [["check", "--output-format", "concise"], ["format", "--check"]])
def test_ruff_is_clean(command):
    done = subprocess.run([sys.executable, "-m", "ruff", *command, "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"ruff {' '.join(command)} found problems:\n{done.stdout}{done.stderr}"


def test_the_version_is_pyprojects():
    import jaxcnn

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert jaxcnn.__version__ == version
    assert f'"{version}"' not in (ROOT / "jaxcnn" / "__init__.py").read_text()  # read from metadata, not repeated
