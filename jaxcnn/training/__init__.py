"""Training: pure steps (jax.grad + optax), data parallelism, checkpoints and ``fit``.

Its names are imported on first use (``jaxcnn.lazy``): ``jaxcnn.training.config`` alone loads no jax.
"""

from typing import TYPE_CHECKING

from jaxcnn.lazy import lazy_exports

if TYPE_CHECKING:
    from .checkpoint import Checkpoints, NonFiniteWeightsError, UnreadableCheckpointError
    from .config import TrainConfig, read_config
    from .fit import fit
    from .guard import DiskFullError, RunLockedError
    from .loop import FitResult, NonFiniteLossError, StartupInterrupted
    from .optim import optimizer, schedule
    from .parallel import Parallel, resolve_mode
    from .readers import evaluate, load_checkpoint
    from .setup import DataInfo
    from .sources import Source, load_source
    from .state import TrainState, create_train_state
    from .steps import batch_metrics, cross_entropy, make_eval_step, make_train_step

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
