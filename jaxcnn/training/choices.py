"""The names a training run chooses among (compute dtypes, optimizers, schedules, parallel modes),
in plain Python so that ``jaxcnn train --help`` builds its flags without importing jax."""

DTYPES = ("float32", "bfloat16")
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "step", "constant")
MODES = ("auto", "none", "sharded", "pmap")
