"""tools/imagenet_val_folders.py: ImageNet's flat validation folder sorted into the class folders
that `--data` reads, by the labels file, all or nothing."""

import numpy as np
import pytest
from PIL import Image

from jaxcnn.data import image_folder
from tests.scripts import load_script

tool = load_script("tools/imagenet_val_folders.py")
LABELS = {
    "ILSVRC2012_val_00000001": "n01751748",
    "ILSVRC2012_val_00000002": "n09193705",
    "ILSVRC2012_val_00000003": "n01751748",
}


@pytest.fixture
def val(tmp_path):
    """A flat val/ of three JPEGs and its labels CSV (LOC_val_solution.csv's columns and words)."""
    folder = tmp_path / "val"
    folder.mkdir()
    for k, name in enumerate(LABELS):
        Image.fromarray(np.full((8, 8, 3), 40 * k, np.uint8)).save(folder / f"{name}.JPEG")
    rows = [f"{name},{wnid} 10 20 30 40 {wnid} 1 2 3 4" for name, wnid in LABELS.items()]
    (tmp_path / "labels.csv").write_text("ImageId,PredictionString\n" + "\n".join(rows) + "\n")
    return folder, tmp_path / "labels.csv"


def test_each_image_moves_to_its_class_folder_and_the_folder_reads_as_classes(val, capsys):
    folder, labels = val
    assert tool.main([str(folder), str(labels)]) == 0
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*.JPEG")) == sorted(
        f"{wnid}/{name}.JPEG" for name, wnid in LABELS.items()
    )
    assert image_folder(folder, image_size=8).classes == ("n01751748", "n09193705")
    assert tool.main([str(folder), str(labels)]) == 0  # run again: nothing left to move
    assert "moved 0 images" in capsys.readouterr().out


def test_an_interrupted_run_is_finished_by_running_it_again(val):
    folder, labels = val
    (folder / "n01751748").mkdir()
    (folder / "ILSVRC2012_val_00000001.JPEG").rename(folder / "n01751748" / "ILSVRC2012_val_00000001.JPEG")
    assert tool.main([str(folder), str(labels)]) == 0
    assert len(list(folder.glob("n*/*.JPEG"))) == 3 and not list(folder.glob("*.JPEG"))


@pytest.mark.parametrize("damage", ["images without a label", "labels without an image"])
def test_a_mismatch_moves_nothing(val, damage, capsys):
    folder, labels = val
    if damage == "images without a label":
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "ILSVRC2012_val_00000009.JPEG")
    else:
        (folder / "ILSVRC2012_val_00000002.JPEG").unlink()
    assert tool.main([str(folder), str(labels)]) == 1
    assert f"1 {damage}" in capsys.readouterr().err
    assert not list(folder.glob("n*"))
