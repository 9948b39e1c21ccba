"""The scripts in benchmarks/ run for every registered model, on jaxcnn.bench (stubbed here: no timing)."""

import pytest

from jaxcnn import bench
from jaxcnn.models import list_models
from tests.scripts import load_script


def load_benchmark(name: str):
    return load_script(f"benchmarks/{name}.py")


def test_compile_time_layouts_exist_for_every_registered_model():
    script = load_benchmark("compile_time")
    layouts = {name: script.layouts(name, max_unrolled_blocks=54) for name in list_models()}
    assert layouts["resnet110"] == ["default", "scan", "unrolled"]  # 54 blocks
    assert layouts["resnet1202"] == layouts["preact_resnet1001"] == ["default", "scan"]
    assert layouts["plain20"] == layouts["preact_resnet164"] == ["default", "scan", "unrolled"]
    assert layouts["vgg16"] == layouts["googlenet"] == layouts["inception_v3"] == ["default"]


def test_compile_time_prints_a_row_per_model_and_layout(monkeypatch, capsys, tmp_path):
    calls = []

    def fake(name, **kwargs):
        calls.append((name, kwargs["layout"], kwargs["image_size"], kwargs["steps"]))
        spec = bench.Spec(name, batch=2, image_size=kwargs["image_size"], layout=kwargs["layout"]).resolved()
        return [spec.row("jaxcnn", "jit", compile_s=1.5, step_ms=20.0, device_kind="cpu")]

    monkeypatch.setattr(bench, "benchmark", fake)
    load_benchmark("compile_time").main(["--models", "plain20", "preact_*", "inception_v3", "--steps", "4"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "1.5" in line]
    assert [line.split(" | ")[:3] for line in lines] == [
        ["| plain20", "default", "32"],
        ["| plain20", "scan", "32"],
        ["| plain20", "unrolled", "32"],
        ["| preact_resnet164", "default", "32"],  # natural order: 164 before 1001
        ["| preact_resnet164", "scan", "32"],
        ["| preact_resnet164", "unrolled", "32"],
        ["| preact_resnet1001", "default", "32"],
        ["| preact_resnet1001", "scan", "32"],
        ["| inception_v3", "default", "75"],  # its smallest input
    ]
    assert {c[3] for c in calls} == {4}


def test_gpu_script_refuses_to_run_on_a_cpu(capsys):
    assert load_benchmark("gpu_vs_pytorch").main([]) == 2
    assert "no accelerator" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["compile_time", "cpu_vs_pytorch", "gpu_vs_pytorch", "input_pipeline"])
def test_scripts_say_how_to_run_them(name):
    assert f"python benchmarks/{name}.py" in load_benchmark(name).__doc__
