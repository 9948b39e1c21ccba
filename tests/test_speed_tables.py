"""The speed tables of README.md and docs/results.md are what tools/make_speed_tables.py makes of benchmarks/results."""

import json
from pathlib import Path

import pytest

from jaxcnn.bench import FIELDS
from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[1]


def load_tool():
    return load_script("tools/make_speed_tables.py")


TOOL = load_tool()
BEGIN, END, replace_section, speed_section = TOOL.BEGIN, TOOL.END, TOOL.replace_section, TOOL.speed_section
compile_section, headline_section = TOOL.compile_section, TOOL.headline_section


def test_speed_tables_are_up_to_date():
    for path, expected in load_tool().expected_pages(ROOT).items():
        assert path.read_text() == expected, (
            f"{path.name}'s speed tables are stale: run python tools/make_speed_tables.py"
        )


def test_stored_result_files_are_rows():
    for path in sorted((ROOT / "benchmarks" / "results").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            assert set(json.loads(line)) <= set(FIELDS), f"{path.name}: unknown fields"


def row(**fields):
    base = dict(framework="jaxcnn", variant="jit", model="resnet20", mode="train", batch=32, dtype="float32")
    base |= dict(image_size=28, in_channels=1, num_classes=10, img_s=150.0, backend="cpu", device_kind="cpu")
    base |= dict(cpu_count=2, jax_version="0.10.2", jaxlib_version="0.10.2", date="2026-11-27T12:00:00+00:00")
    return base | dict(command="jaxcnn bench resnet20", tflops=0.1, mfu=0.5, compile_s=4.0) | fields


def test_a_new_result_file_changes_the_section(tmp_path):
    empty = speed_section(tmp_path, tmp_path)
    assert "No CPU result is stored yet" in empty and "No GPU result is stored yet" in empty
    torch = dict(framework="torch", torch_version="2.14.1", ratio=0.5, command="jaxcnn bench resnet20")
    rows = [
        row(ratio=0.5),
        row(**torch, variant="eager channels_last", img_s=300.0, best=True),
        row(**torch, variant="eager channels_first", img_s=200.0, best=False),
        row(**torch, variant="compile channels_last", status="failed", note="RuntimeError: no compiler", img_s=None),
    ]
    (tmp_path / "2026-11-27-cpu.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    section = speed_section(tmp_path, tmp_path)
    assert "No GPU result is stored yet" in section and "No CPU result" not in section
    assert "From `2026-11-27-cpu.jsonl`: cpu (host with 2 CPU cores), 2026-11-27, JAX 0.10.2" in section
    line = next(line for line in section.splitlines() if line.startswith("| resnet20"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[:9] == ["resnet20", "1x28x28", "train", "float32", "32", "150", "300 (channels_last)", "0.50", "-"]
    assert "torch.compile failed: RuntimeError: no compiler" in cells[-1]


def test_fit_overhead_results_get_their_table_under_their_backend(tmp_path):
    rates = {"step": 1000.0, "step+augment": 990.0, "augment": 5e6, "pipeline": 3000.0, "fit": 970.0}
    stored = dict(model="resnet50", dtype="bfloat16", batch=256, image_size=224, steps=50, repeats=3, rates=rates)
    stored |= dict(device="NVIDIA H200", jax="0.11.2", date="2026-11-27", command="python x.py", note="threaded")
    (tmp_path / "2026-11-27-fit-overhead-resnet50.json").write_text(json.dumps(stored))
    section = speed_section(tmp_path, tmp_path)
    gpu = section[section.index("### GPU") :]
    assert "No CPU result is stored yet" in section and "No GPU `jaxcnn bench` table is stored yet" in gpu
    assert "resnet50 bfloat16 batch 256 at 224px, epochs of 50 steps; threaded." in gpu
    lines = {line.split("|")[1].strip(): line.split("|")[3].strip() for line in gpu.splitlines() if "| " in line}
    assert lines["fit"] == "97.0%" and lines["step+augment"] == "99.0%" and lines["step"] == "100.0%"
    assert lines["augment"] == lines["pipeline"] == "(alone)"


def test_replace_section_needs_the_markers():
    text = f"a\n{BEGIN}\nold\n{END}\nb\n"
    assert replace_section(text, "new\n") == f"a\n{BEGIN}\n\nnew\n\n{END}\nb\n"
    with pytest.raises(ValueError, match="markers"):
        replace_section("no markers", "new\n")


def test_headline_takes_the_compared_rows_of_each_jax_and_the_gpu_fit(tmp_path):
    torch = dict(framework="torch", torch_version="2.14.1", variant="eager channels_last", img_s=300.0, best=True)
    rows = [row(ratio=0.5), row(**torch), row(batch=8, note="conv=xla")]  # the last has no PyTorch partner
    (tmp_path / "2026-11-27-cpu.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    older = [row(ratio=0.4, img_s=120.0), row(**torch)]  # an older file of the same JAX: not shown
    (tmp_path / "2026-11-20-cpu.jsonl").write_text("".join(json.dumps(r) + "\n" for r in older))
    newer = [row(ratio=0.6, img_s=180.0, jax_version="0.12.0.1"), row(**torch, jax_version="0.12.0.1")]
    (tmp_path / "2026-12-01-cpu.jsonl").write_text("".join(json.dumps(r) + "\n" for r in newer))
    rates = {"step": 1000.0, "fit": 970.0}
    stored = dict(
        model="resnet50", dtype="bfloat16", batch=256, image_size=224, device="NVIDIA H200", date="2026-11-27"
    )
    stored |= dict(jax="0.11.2")
    (tmp_path / "2026-11-27-fit-overhead-resnet50.json").write_text(json.dumps(stored | dict(rates=rates)))
    lines = headline_section(tmp_path).splitlines()[2:]
    assert lines == [
        "| 2-core CPU | 0.10.2 | resnet20 | 1x28x28 | float32 | 32 | 150 | 300 | 0.50 | 2026-11-27 |",
        "| 2-core CPU | 0.12.0.1 | resnet20 | 1x28x28 | float32 | 32 | 180 | 300 | 0.60 | 2026-11-27 |",
        "| NVIDIA H200 | 0.11.2 | resnet50 | 3x224x224 | bfloat16 | 256 | 1,000 (`fit`: 97.0%) | - | - | 2026-11-27 |",
    ]


def test_compile_section_lists_each_layout(tmp_path):
    assert "No compile-time result" in compile_section(tmp_path, tmp_path)
    rows = [row(layout="scan", step_ms=45.1, compile_s=4.44), row(layout="unrolled", step_ms=322.4, compile_s=17.87)]
    (tmp_path / "2026-11-28-compile-time.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    section = compile_section(tmp_path, tmp_path)
    assert "| resnet20 | scan | 4.4 | 45 | 150.0 |" in section and "| resnet20 | unrolled | 17.9 | 322 |" in section
