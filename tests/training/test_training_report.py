"""Progress on stderr: a tqdm bar on a terminal, plain lines (no carriage-return frames) elsewhere;
curves.png drawn without touching the process's matplotlib state."""

import io
import subprocess
import sys

from tqdm import tqdm

from jaxcnn.training.runfolder import record as report


class Terminal(io.StringIO):
    def isatty(self):
        return True


def run_epoch(bar, total, sync_every=10):
    """Drive ``bar`` as fit does from its current step: an update and a postfix at every host sync."""
    for step in range((bar.n // sync_every + 1) * sync_every, total + sync_every, sync_every):
        step = min(step, total)
        bar.update(step - bar.n)
        bar.set_postfix(loss=f"{1 / step:.3f}", acc="50.0%")
    bar.close()


def test_a_terminal_gets_a_tqdm_bar():
    assert isinstance(report.progress(625, 0, "epoch 1/3", True, file=Terminal()), tqdm)


def test_a_log_file_gets_one_line_per_hundred_steps_and_one_at_the_end():
    log = io.StringIO()
    run_epoch(report.progress(625, 0, "epoch 1/3", True, file=log), 625)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert [line.split(" loss")[0] for line in lines] == [
        f"epoch 1/3: step {n}/625" for n in (100, 200, 300, 400, 500, 600, 625)
    ]
    assert lines[0] == "epoch 1/3: step 100/625 loss=0.010 acc=50.0%"


def test_a_resumed_epoch_prints_from_where_it_starts_and_disabled_progress_prints_nothing():
    log = io.StringIO()
    bar = report.progress(625, 537, "epoch 2/3", True, file=log)
    bar.update(3)  # fit's first sync after resuming at 537 is step 540
    bar.set_postfix(loss="1.000")
    run_epoch(bar, 625)
    assert log.getvalue().splitlines() == [
        "epoch 2/3: step 600/625 loss=0.002 acc=50.0%",
        "epoch 2/3: step 625/625 loss=0.002 acc=50.0%",
    ]
    quiet = io.StringIO()
    run_epoch(report.progress(625, 0, "epoch 1/3", False, file=quiet), 625)
    assert quiet.getvalue() == ""


def test_curves_png_leaves_the_matplotlib_backend_and_pyplot_alone(tmp_path):
    # a notebook's inline backend must survive fit; matplotlib.use("Agg") in the library broke it
    code = f"""
import matplotlib
matplotlib.use("svg")
import matplotlib.pyplot as plt
from jaxcnn.training.runfolder import record as report
row = {{"epoch": 1, "train_loss": 1.0, "test_loss": 0.9, "train_accuracy": 0.5, "test_accuracy": 0.6}}
path = report.plot_curves({str(tmp_path)!r}, [row, {{**row, "epoch": 2}}])
assert path.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
assert plt.get_fignums() == []
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
