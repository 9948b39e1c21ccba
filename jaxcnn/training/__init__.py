"""Training: pure steps (jax.grad + optax), data parallelism, checkpoints and ``fit``.

Its names are imported on first use (``jaxcnn.lazy``): ``jaxcnn.training.config`` alone loads no jax.
"""

from typing import TYPE_CHECKING

from jaxcnn.lazy import lazy_exports

if TYPE_CHECKING:
    from .config import TrainConfig, resolve_mode
    from .loop import FitResult, NonFiniteLossError, evaluate, fit
    from .optim import optimizer, schedule
    from .parallel import Parallel
    from .parts import build, initial_state, transforms
    from .readers import Source, load_checkpoint, load_source
    from .runfolder.checkpoints import Checkpoints, NonFiniteWeightsError, UnreadableCheckpointError
    from .runfolder.lock import DiskFullError, RunLockedError
    from .runfolder.record import DataInfo, read_config
    from .signals import StartupInterrupted
    from .step import TrainState, batch_metrics, create_train_state, cross_entropy, make_eval_step, make_train_step

__all__ = [
    "Checkpoints",
    "DataInfo",
    "DiskFullError",
    "RunLockedError",
    "FitResult",
    "NonFiniteLossError",
    "NonFiniteWeightsError",
    "StartupInterrupted",
    "TrainConfig",
    "build",
    "initial_state",
    "transforms",
    "evaluate",
    "fit",
    "load_checkpoint",
    "load_source",
    "read_config",
    "Parallel",
    "Source",
    "TrainState",
    "UnreadableCheckpointError",
    "batch_metrics",
    "create_train_state",
    "cross_entropy",
    "make_eval_step",
    "make_train_step",
    "optimizer",
    "resolve_mode",
    "schedule",
]

__getattr__, __dir__ = lazy_exports(__name__)
