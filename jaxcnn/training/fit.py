"""``fit``: train a model into a run folder, the function behind ``jaxcnn train``. It claims the
folder, loads and describes the data, builds the model once (``setup``) and runs the loop
(``loop``), which writes the folder's files (``runfolder``, ``report``, ``checkpoint``)."""

from __future__ import annotations

import sys
from pathlib import Path

import jax

from jaxcnn.data import Dataset, StreamingFolder
from jaxcnn.data.layout import scanned_folders
from jaxcnn.data.sources import is_folder_data

from .config import ConfigError, TrainConfig
from .guard import run_lock
from .inputs import load_inputs, saved_folder
from .loop import FitResult, Run, StopSignals
from .runfolder import check_run_folder
from .setup import build_model, check_split_sizes, describe_data, initialize_distributed


def fit(
    config: TrainConfig | None = None,
    *,
    train: Dataset | StreamingFolder | None = None,
    test: Dataset | StreamingFolder | None = None,
) -> FitResult:
    """Train ``config.model`` on ``config.data`` (or the given datasets) into ``config.out``.

    ``config.data`` names a dataset or an image folder (see ``TrainConfig``); a folder's classes,
    split, image size and evaluation transform are saved in ``config.json`` (``DataInfo.folder``).

    Writes ``config.json``, ``metrics.jsonl`` (one row per epoch), ``curves.png`` and
    ``checkpoints/`` (every ``checkpoint_every`` steps and at each epoch end, before the epoch's
    row and picture). SIGINT or SIGTERM finishes the current step, saves a checkpoint and returns
    with ``interrupted=True`` (a second one does not wait); before training starts, either raises
    ``StartupInterrupted`` (a ``KeyboardInterrupt``), waiting for a compilation in progress to end.
    A loss, gradient, parameter or batch statistic that becomes NaN or infinite raises
    ``NonFiniteLossError`` naming the step, checked before every save, so the newest checkpoint
    is the last finite one. ``config=None`` trains the defaults (``TrainConfig()``).

    One run per folder: the run holds ``out/.lock`` (process 0 only) until it returns or fails, and
    a second ``fit`` into a locked folder raises ``RunLockedError`` naming the holder's PID. A new
    run refuses a folder that holds files it did not write (``FileExistsError`` naming them); a
    resume continues only the run of the folder's ``config.json``.

    ``train`` and ``test`` may be ``StreamingFolder`` s: their images are decoded from the files
    batch by batch, the training images randomly cropped and flipped on the host (keep
    ``config.pad`` 0 and ``config.flip`` False).
    """
    config = TrainConfig() if config is None else config
    with StopSignals() as stop:
        return _fit(config, train, test, stop)


def _fit(config: TrainConfig, train, test, stop: StopSignals) -> FitResult:
    refuse_mistakes(config)
    if config.distributed:
        initialize_distributed(config)
    with run_lock(config.out, hold=jax.process_index() == 0):
        # before the data loads: a foreign folder, a mismatch or a damaged config.json fails at once
        check_run_folder(config, main_process=jax.process_index() == 0)
        folder = None
        if train is None or test is None:
            saved = saved_folder(config.out) if config.resume else None
            loaded_train, loaded_test, folder = load_inputs(config, saved)
            folder = folder if train is None else None
            train = train if train is not None else loaded_train
            test = test if test is not None else loaded_test
        if train.num_classes == 1 and jax.process_index() == 0:
            print(
                f"warning: {config.data} has a single class ({train.classes[0]}): every "
                "prediction is that class, so its accuracy reads 100% and means nothing; add a folder per class",
                file=sys.stderr,
            )
        check_split_sizes(config, train, test)
        stop.check_startup()
        model = build_model(config, train.num_classes, train.image_shape[-1])
        info = describe_data(train, config, model, folder)
        stop.check_startup()
        return Run(config, info, model, train, test, stop).run()


def refuse_mistakes(config: TrainConfig) -> None:
    """Refuse, before anything is written, the settings that would run but train nothing useful
    or damage the data: ``ConfigError`` for freezing the backbone of random weights (a new run
    without ``init_from``), ``ValueError`` for an output folder inside the image folder
    ``config.data`` (its files would become a class of images in every later run)."""
    if config.freeze == "backbone" and config.init_from is None and not config.resume:
        raise ConfigError(
            "freeze",
            "'backbone' without init_from trains the classifier on random, untrained features; "
            "give init_from (a run folder or weight file to start from), or freeze none",
        )
    if is_folder_data(config.data):
        out = Path(config.out).expanduser().resolve()
        for scanned in map(Path.resolve, scanned_folders(config.data)):
            if out == scanned or scanned in out.parents:
                raise ValueError(
                    f"the output folder {config.out} is inside {scanned}, where its files would be read as images of "
                    f"a class by every later run on {config.data}; write the run outside that folder"
                )
