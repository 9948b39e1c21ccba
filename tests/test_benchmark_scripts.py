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


@pytest.mark.parametrize(
    "name", ["compile_time", "conv_layers_vs_pytorch", "cpu_vs_pytorch", "gpu_vs_pytorch", "input_pipeline"]
)
def test_scripts_say_how_to_run_them(name):
    assert f"python benchmarks/{name}.py" in load_benchmark(name).__doc__


def test_conv_layers_are_the_resnet_papers_convolutions_of_resnet20():
    shapes = load_benchmark("conv_layers_vs_pytorch").layer_shapes("resnet20", 28, 1)
    # He et al. 2016, section 4.2 (n = 3): a 3x3 stem with 16 filters, then 2n 3x3 layers on each
    # map size with 16, 32 and 64 filters, subsampling by the first convolution of stages 2 and 3
    # with stride 2; 6n + 1 = 19 convolutions (map: the input's side, 28 -> 14 -> 7 here).
    assert shapes == {
        (28, 1, 16, 3, 1, True): 1,
        (28, 16, 16, 3, 1, False): 6,
        (28, 16, 32, 3, 2, False): 1,
        (14, 32, 32, 3, 1, False): 5,
        (14, 32, 64, 3, 2, False): 1,
        (7, 64, 64, 3, 1, False): 5,
    }


def test_conv_layers_step_total_leaves_out_the_stems_input_gradient():
    rows = [
        {"uses": 1, "stem": True, "jax_ms": [1.0, 10.0, 2.0]},
        {"uses": 3, "stem": False, "jax_ms": [1.0, 1.0, 1.0]},
    ]
    assert load_benchmark("conv_layers_vs_pytorch").step_ms(rows, "jax_ms") == 3.0 + 9.0
