"""SIGINT and SIGTERM during ``fit``: at start-up a stop that waits for a compilation in progress,
once training runs a request honoured after the current step (``StopSignals``)."""

from __future__ import annotations

import signal
import sys
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StartupInterrupted(KeyboardInterrupt):
    """A stop signal (``signum``) arrived before training began: nothing was trained (a new run's
    folder is removed when nothing but empty folders was written into it)."""

    def __init__(self, signum: int):
        super().__init__(f"{signal.Signals(signum).name} before training started: nothing was trained")
        self.signum = signum


# Libraries whose compiled code a KeyboardInterrupt must not cut short: XLA interrupted mid-compile
# (jax checks for signals there) crashes the process at exit with a segmentation fault.
DEFERRING_PACKAGES = frozenset({"jax", "jaxlib", "flax", "optax", "orbax", "tensorstore"})


class StopSignals:
    """SIGINT and SIGTERM as a run wants them, from the moment ``fit`` starts to its end.

    While the run starts up (data, model, compilation), a signal stops it at once with
    ``StartupInterrupted`` when it arrives in jaxcnn's or plain Python code, and is deferred to
    the next ``check_startup`` when it arrives inside jax, flax, optax or orbax (XLA interrupted
    mid-compile crashes the process). Once ``training`` is set, a signal is a request
    (``signal``) that the loop honours after its current step, as schedulers expect (SLURM and
    Kubernetes send SIGTERM, then SIGKILL after a grace period). A second signal is not held
    back: it gets the handler there was before (SIGINT: KeyboardInterrupt, SIGTERM: the process
    ends), which cannot corrupt a checkpoint: a save cut short leaves only a temporary folder.
    Outside the main thread, where Python delivers no signals, nothing is installed."""

    def __init__(self):
        self.signal: int | None = None
        self.training = False
        self._previous: dict = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._request) for signum in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        _restore(self._previous)

    def check_startup(self) -> None:
        """Raise ``StartupInterrupted`` for a signal deferred while the run started up."""
        if self.signal is not None and not self.training:
            raise StartupInterrupted(self.signal)

    def _request(self, signum, frame) -> None:
        if self.signal is None:
            self.signal = signum
            if not self.training and not _inside(frame, DEFERRING_PACKAGES):
                raise StartupInterrupted(signum)
            return
        if signum != signal.SIGINT:  # a KeyboardInterrupt is reported by whoever catches it
            print(f"{signal.Signals(signum).name} again: stopping now, without a last checkpoint", file=sys.stderr)
        _restore(self._previous)
        signal.raise_signal(signum)


def _inside(frame, packages: frozenset[str]) -> bool:
    """Whether a frame of the stack from ``frame`` outwards runs code of one of ``packages``."""
    while frame is not None:
        if str(frame.f_globals.get("__name__", "")).partition(".")[0] in packages:
            return True
        frame = frame.f_back
    return False


def _restore(handlers: dict) -> None:
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
