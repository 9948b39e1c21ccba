"""``fit``: train a model into a run folder, the function behind ``jaxcnn train``. It claims the
folder, loads and describes the data, builds the model once (``setup``) and runs the loop
(``loop``), which writes the folder's files (``runfolder``, ``report``, ``checkpoint``)."""

from __future__ import annotations

import jax

from jaxcnn.data import Dataset, StreamingFolder

from .config import TrainConfig
from .guard import run_lock
from .inputs import load_inputs, saved_folder
from .loop import FitResult, Run
from .runfolder import check_run_folder
from .setup import build_model, describe_data, initialize_distributed


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
    with ``interrupted=True`` (a second one does not wait); a non-finite loss raises
    ``NonFiniteLossError`` before anything is saved for the bad step. ``config=None`` trains the
    defaults (``TrainConfig()``).

    One run per folder: the run holds ``out/.lock`` (process 0 only) until it returns or fails, and
    a second ``fit`` into a locked folder raises ``RunLockedError`` naming the holder's PID. A new
    run refuses a folder that holds files it did not write (``FileExistsError`` naming them); a
    resume continues only the run of the folder's ``config.json``.

    ``train`` and ``test`` may be ``StreamingFolder`` s: their images are decoded from the files
    batch by batch, the training images randomly cropped and flipped on the host (keep
    ``config.pad`` 0 and ``config.flip`` False).
    """
    config = TrainConfig() if config is None else config
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
        model = build_model(config, train.num_classes, train.image_shape[-1])
        info = describe_data(train, config, model, folder)
        return Run(config, info, model, train, test).run()
