"""The names a training run chooses among (compute dtypes, optimizers, schedules and the step
schedule's default milestones, parallel modes), in plain Python so that ``jaxcnn train --help``
builds its flags without importing jax."""

DTYPES = ("float32", "bfloat16")
OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "step", "constant")
MODES = ("auto", "none", "sharded", "pmap")
STEP_MILESTONES = (0.5, 0.75)  # fractions of training at which "step" divides the rate by 10
