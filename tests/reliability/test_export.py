"""Export is atomic: on a real full disk a new export leaves the earlier one byte-identical, with no
temporary file and one line naming the file and the space; the description carries the file's
sha256, which a flipped bit no longer matches; a folder or a read-only file system as ``--out``
is one line."""

import hashlib
import json
import re

import pytest

from jaxcnn.cli import build_parser
from tests.reliability.test_signals import jaxcnn
from tests.reliability.tmpfs import tmpfs

CPU = ["--platform", "cpu"]


@pytest.fixture(scope="module")
def first_export(reference, tmp_path_factory, child_env):
    """The reference run exported once (``m.jax`` and ``m.json``) in a folder of its own."""
    out = tmp_path_factory.mktemp("export") / "m.jax"
    done = jaxcnn(["export", str(reference.out), "--out", str(out), *CPU], child_env)
    assert done.returncode == 0, done.stderr
    return out


def test_the_description_is_named_as_the_help_says_and_holds_the_files_sha256(first_export):
    description = json.loads(first_export.with_suffix(".json").read_text())
    assert description["sha256"] == hashlib.sha256(first_export.read_bytes()).hexdigest()
    flipped = bytearray(first_export.read_bytes())
    flipped[len(flipped) // 2] ^= 1
    assert hashlib.sha256(flipped).hexdigest() != description["sha256"]  # what a consumer's check catches
    help_text = build_parser()._subparsers._group_actions[0].choices["export"].format_help()
    assert "--out m.jax writes m.jax and m.json" in " ".join(help_text.split())


@pytest.mark.slow
def test_a_failed_export_on_a_full_disk_leaves_the_earlier_one_byte_identical(
    reference, first_export, tmp_path, child_env
):
    size = first_export.stat().st_size + first_export.with_suffix(".json").stat().st_size
    with tmpfs(tmp_path / "disk", f"size={size + size // 2}") as disk:  # room for one export, not two
        earlier = {path.name: path.read_bytes() for path in (first_export, first_export.with_suffix(".json"))}
        for name, data in earlier.items():
            (disk / name).write_bytes(data)
        failed = jaxcnn(["export", str(reference.out), "--out", str(disk / "m.jax"), *CPU], child_env)
        assert failed.returncode == 1 and failed.stderr.count("\n") == 1, failed.stderr
        line = (
            rf"jaxcnn export: error: no space left on device writing {disk / 'm.jax'} and {disk / 'm.json'} "
            r"\(it needs \d+(\.\d+)? kB; \d+(\.\d+)? kB free\): free space and export again\n"
        )
        assert re.fullmatch(line, failed.stderr), failed.stderr
        assert sorted(path.name for path in disk.iterdir()) == ["m.jax", "m.json"]  # no temporary file
        for name, data in earlier.items():
            assert (disk / name).read_bytes() == data


def test_export_into_a_folder_or_a_read_only_file_system_is_one_line(reference, tmp_path, child_env):
    into_folder = jaxcnn(["export", str(reference.out), "--out", str(tmp_path), *CPU], child_env)
    assert into_folder.returncode == 1 and into_folder.stderr.count("\n") == 1, into_folder.stderr
    assert f"{tmp_path} is a folder; --out names the export file to write" in into_folder.stderr
    with tmpfs(tmp_path / "ro", "size=1m,ro") as read_only:
        refused = jaxcnn(["export", str(reference.out), "--out", str(read_only / "m.jax"), *CPU], child_env)
        assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
        assert f"cannot write {read_only / 'm.jax'}" in refused.stderr and "read-only file system" in refused.stderr
        assert list(read_only.iterdir()) == []
