"""Training: pure steps (jax.grad + optax), data parallelism, checkpoints and ``fit``."""

from .checkpoint import Checkpoints, UnreadableCheckpointError
from .config import TrainConfig, read_config
from .fit import FitResult, NonFiniteLossError, evaluate, fit, load_checkpoint
from .guard import DiskFullError, RunLockedError
from .optim import optimizer, schedule
from .parallel import Parallel, resolve_mode
from .state import TrainState, create_train_state
from .steps import batch_metrics, cross_entropy, make_eval_step, make_train_step

__all__ = [
    "Checkpoints",
    "DiskFullError",
    "RunLockedError",
    "FitResult",
    "NonFiniteLossError",
    "TrainConfig",
    "evaluate",
    "fit",
    "load_checkpoint",
    "read_config",
    "Parallel",
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
