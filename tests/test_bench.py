"""``jaxcnn bench`` and ``jaxcnn.bench``: rows, FLOP arithmetic, fit overhead, PyTorch rows or
their skip, bad arguments. One tiny run (resnet20, batch 4, 8x8, 2 steps) serves most tests;
nothing here asserts a timing."""

import contextlib
import importlib
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

import jaxcnn.bench as bench
from jaxcnn.bench import FIELDS, Row, Spec
from jaxcnn.cli import main

try:
    import torch
except ImportError:
    torch = None

ROOT = Path(__file__).resolve().parents[1]
SIZE, CHANNELS, CLASSES, BATCH = 8, 3, 10, 4
TINY = ["--batch-size", str(BATCH), "--image-size", str(SIZE), "--warmup", "1", "--steps", "2", "--repeats", "2"]


def cifar_resnet_macs(n: int, size: int, channels: int, classes: int) -> int:
    """Multiply-accumulates of He et al.'s 6n+2 CIFAR ResNet on one ``size`` x ``size`` image, by
    hand: a 3x3 stem of 16 maps, three stages of 2n 3x3 convs with 16/32/64 maps, the first
    conv of stages 2 and 3 with stride 2 (padding 1: the side becomes ceil(side / 2)), a
    parameter-free shortcut, and a 64 x classes linear layer."""
    macs, side, cin = size * size * 16 * 9 * channels, size, 16
    for width in (16, 32, 64):
        side = side if width == 16 else math.ceil(side / 2)
        macs += side * side * width * 9 * cin + (2 * n - 1) * side * side * width * 9 * width
        cin = width
    return macs + 64 * classes


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(rows read back from --results, stdout) of ``jaxcnn bench resnet20 --mode fit`` with a
    PyTorch eager comparison when torch is importable."""
    results = tmp_path_factory.mktemp("bench") / "rows.jsonl"
    argv = ["bench", "resnet20", *TINY, "--mode", "fit", "--results", str(results)]
    argv += ["--compare", "torch-eager"] if torch is not None else []
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return [json.loads(line) for line in results.read_text().splitlines()], out.getvalue()


def by(rows, framework, mode=None):
    return [r for r in rows if r["framework"] == framework and (mode is None or r["mode"] == mode)]


@pytest.mark.slow
def test_rows_have_every_field_and_consistent_rates(run):
    rows, _ = run
    assert [(r["framework"], r["mode"]) for r in rows[:2]] == [("jaxcnn", "train"), ("jaxcnn", "fit")]
    for r in rows:
        assert tuple(r) == FIELDS
        assert r["status"] == "ok", r["note"]
        assert r["img_s_min"] <= r["img_s"] <= r["img_s_max"]
        assert r["step_ms"] == pytest.approx(1000 * r["batch"] / r["img_s"])
        assert (r["model"], r["batch"], r["image_size"], r["in_channels"], r["num_classes"]) == (
            "resnet20",
            BATCH,
            SIZE,
            CHANNELS,
            CLASSES,
        )
        assert r["device_kind"] and r["jax_version"] and r["jaxlib_version"] and r["date"]
        assert r["command"].startswith("jaxcnn bench resnet20 --batch-size 4 --dtype float32 --mode fit")
        assert r["peak_tflops"] > 0 and r["mfu"] == pytest.approx(r["tflops"] / r["peak_tflops"])
    assert by(rows, "jaxcnn", "train")[0]["compile_s"] > 0
    assert by(rows, "jaxcnn", "train")[0]["params"] == 269_722  # He et al.: 0.27M


@pytest.mark.slow
def test_train_tflops_are_rate_times_hand_counted_macs_times_6(run):
    rows, _ = run
    macs = cifar_resnet_macs(3, SIZE, CHANNELS, CLASSES)
    for r in rows:
        assert r["macs"] == macs
        assert r["tflops"] == pytest.approx(r["img_s"] * macs * 6 / 1e12, rel=1e-12)


@pytest.mark.slow
def test_step_memory_holds_at_least_the_parameters_and_momentum_the_step_reads(run):
    rows, _ = run
    step = by(rows, "jaxcnn", "train")[0]
    # XLA's buffer assignment counts the float32 parameters and the SGD momentum, both step arguments
    assert step["step_memory_bytes"] >= 2 * 4 * step["params"]


@pytest.mark.slow
def test_compiled_step_counts_6_flops_per_mac_and_donates_the_state():
    spec = Spec("resnet20", batch=BATCH, image_size=32, in_channels=CHANNELS, num_classes=CLASSES).resolved()
    step = bench.compile_step(spec)  # at 32x32 the convolutions dominate (at 8x8 the rest is 10%)
    flops = step.compiled.cost_analysis()
    flops = (flops[0] if isinstance(flops, list) else flops)["flops"]  # a list of one dict on older JAX
    # XLA's own count: forward, input and kernel gradients at 2 flops per MAC, less the first conv's
    # input gradient, plus the element-wise work (BatchNorm, ReLU, the update)
    assert 0.9 < flops / (6 * BATCH * cifar_resnet_macs(3, 32, CHANNELS, CLASSES)) < 1.05
    state, _ = step.compiled(step.state, step.batch)
    assert int(state.step) == 1 and jax.tree.leaves(step.state.params)[0].is_deleted()  # donated, as fit's step


@pytest.mark.slow
def test_model_overrides_reach_the_model_and_the_note():
    kwargs = dict(batch_sizes=(1,), image_size=32, num_classes=10, warmup=0, steps=1, repeats=1)
    (row,) = bench.benchmark("vgg11", model_overrides={"head": "gap"}, **kwargs)
    # torchvision's vgg11.features has 9,220,480 parameters; the gap head adds a 512 x 10 linear layer
    assert (row.status, row.params, row.note) == ("ok", 9_220_480 + 512 * 10 + 10, "head=gap")
    with pytest.raises(ValueError, match="do not fit vgg11"):
        bench.benchmark("vgg11", model_overrides={"heads": "gap"}, **kwargs)
    with pytest.raises(ValueError, match="cannot be compared with PyTorch"):
        bench.benchmark("vgg11", model_overrides={"head": "gap"}, compare="torch", **kwargs)


@pytest.mark.slow
def test_fit_row_reports_the_pipeline_overhead_against_the_bare_step(run):
    rows, out = run
    step, fit = by(rows, "jaxcnn", "train")[0], by(rows, "jaxcnn", "fit")[0]
    assert fit["step_img_s"] == step["img_s"]
    assert fit["overhead_pct"] == pytest.approx(100 * (1 - fit["img_s"] / step["img_s"]))
    assert "under the bare step" in out and out.splitlines()[0].split()[:3] == ["model", "framework", "variant"]


@pytest.mark.slow
@pytest.mark.skipif(torch is None, reason="torch is not importable")
def test_torch_rows_in_both_layouts_with_the_best_marked_and_ratios(run):
    rows, out = run
    step, eager = by(rows, "jaxcnn", "train")[0], by(rows, "torch")
    assert sorted(r["variant"] for r in eager) == ["eager channels_first", "eager channels_last"]
    best = max(eager, key=lambda r: r["img_s"])
    assert [r["best"] for r in eager].count(True) == 1 and best["best"]
    for r in eager:
        assert r["mode"] == "train" and r["params"] == 269_722 and r["torch_version"] == torch.__version__
        assert r["ratio"] == pytest.approx(step["img_s"] / r["img_s"])
    assert step["ratio"] == pytest.approx(step["img_s"] / best["img_s"])
    assert "best layout" in out


@pytest.mark.slow
def test_eval_rows_count_2_flops_per_mac_and_take_the_given_peak():
    kwargs = dict(batch_sizes=(2,), image_size=SIZE, warmup=0, steps=1, repeats=1, peak=0.5)
    rows = bench.benchmark("resnet20", mode="eval", compare="torch-eager" if torch is not None else None, **kwargs)
    assert [r.mode for r in rows] == ["eval"] * len(rows) and rows[0].framework == "jaxcnn"
    for r in rows:
        assert r.status == "ok", r.note
        assert r.tflops == pytest.approx(r.img_s * cifar_resnet_macs(3, SIZE, CHANNELS, CLASSES) * 2 / 1e12, rel=1e-12)
        assert (r.peak_tflops, r.peak_source, r.mfu) == (0.5, "--peak-tflops", pytest.approx(r.tflops / 0.5))


def fake_step(spec, peak, state=None):
    """A measured-looking jaxcnn row without compiling anything."""
    row = spec.row("jaxcnn", "jit", backend="cpu", device_kind="cpu", img_s=100.0, img_s_min=90.0, img_s_max=110.0)
    row.macs, row.step_ms = 1000, 10.0
    return row


def test_without_torch_the_comparison_is_skipped_with_the_reason(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    runner = importlib.import_module("jaxcnn.bench.runner")
    monkeypatch.setattr(runner, "measure_step", fake_step)
    monkeypatch.setattr(runner, "peak_tflops", lambda dtype, override: (None, None))
    assert main(["bench", "resnet20", "--compare", "torch"]) == 0
    out = capsys.readouterr().out
    assert "skipped: PyTorch is not importable" in out and "pip install -e '.[torch]'" in out
    rows = bench.benchmark("resnet20", compare="torch")
    assert [(r.framework, r.status) for r in rows] == [("jaxcnn", "ok"), ("torch", "skipped")]


@pytest.mark.skipif(torch is None, reason="torch is not importable")
def test_a_failing_torch_compile_becomes_a_failed_row(monkeypatch):
    from jaxcnn.bench import torch_side

    def broken(model):
        raise RuntimeError("no C++ compiler found\nmore detail")

    monkeypatch.setattr(torch, "compile", broken)
    spec = Spec("resnet20", batch=2, image_size=SIZE, warmup=0, steps=1, repeats=1).resolved()
    row = torch_side._measure(spec, fake_step(spec, None), (None, None), "cpu", "channels_last", compiled=True)
    assert (row.status, row.variant) == ("failed", "compile channels_last")
    assert row.note.startswith("RuntimeError: no C++ compiler found") and "more detail" not in row.note


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "resnet21"], "unknown model 'resnet21'"),
        (["bench", "alexnet*"], "no model matches 'alexnet*'"),
        (["bench", "resnet20", "--batch-size", "32,x"], "expected positive integers separated by commas"),
        (["bench", "resnet20", "--batch-size", "32,0"], "expected positive integers separated by commas"),
        (["bench", "resnet20", "--batch-size", ""], "expected positive integers separated by commas"),
        (["bench", "resnet20", "--mode", "serve"], "invalid choice: 'serve'"),
        (["bench", "resnet20", "--compare", "tensorflow"], "invalid choice: 'tensorflow'"),
        (["bench", "resnet20", "--steps", "0"], "argument --steps: expected a positive integer, got '0'"),
    ],
)
def test_bad_arguments_exit_2_in_one_line_and_a_pointer_to_help(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    lines = capsys.readouterr().err.splitlines()
    assert exit_info.value.code == 2 and len(lines) == 2, lines
    assert lines[0].startswith("jaxcnn bench: error: ") and message in lines[0]
    assert lines[1] == "run `jaxcnn bench --help` for every flag"


def test_patterns_expand_in_order_without_repeats():
    assert bench.resolve_models(["resnet2*", "resnet20", "plain2?"]) == ["resnet20", "plain20"]


def test_bad_specs_are_refused_before_anything_runs():
    with pytest.raises(ValueError, match="applies to the ResNets only"):
        Spec("vgg11", layout="scan").resolved()
    with pytest.raises(ValueError, match="batch must be a positive integer, got 0"):
        Spec("resnet20", batch=0).resolved()
    with pytest.raises(ValueError, match="compare must be None or one of torch, torch-eager"):
        bench.benchmark("resnet20", compare="jax")


def test_results_round_trip_and_plot(tmp_path):
    rows = [fake_step(Spec("resnet20", batch=b).resolved(), None) for b in (32, 128)]
    bench.append_jsonl(tmp_path / "r.jsonl", rows)
    bench.append_jsonl(tmp_path / "r.jsonl", rows[:1])
    assert bench.read_jsonl(tmp_path / "r.jsonl") == [*rows, rows[0]]
    png = bench.plot_rows(rows, tmp_path / "plot.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no measured row"):
        bench.plot_rows([Row("torch", "-", "resnet20", "train", 32, "float32", 32, 3, 10, status="skipped")], png)


def test_importing_jaxcnn_and_its_command_does_not_import_torch():
    code = "import sys, jaxcnn, jaxcnn.bench, jaxcnn.cli; sys.exit('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, "torch was imported: PyTorch must stay an optional extra"
