"""Execution strategies of the models' convolutions and max pools, on JAX alone.

A ``Backend`` names one convolution and one max pool; ``XLA`` runs XLA's own
operations, ``CPU`` the same functions with backward passes that are fast on XLA:CPU.
``jaxcnn.create_model(..., backend=...)`` chooses one when the model is built.
"""

from .backend import BACKENDS, CPU, XLA, Backend, resolve_backend
from .conv import CHUNK, GEMM_MAX_POSITIONS, cpu_backend_conv, cpu_conv, gemm_conv, output_size, xla_conv
from .pool import cpu_max_pool, xla_max_pool

__all__ = [
    "BACKENDS",
    "CHUNK",
    "CPU",
    "GEMM_MAX_POSITIONS",
    "XLA",
    "Backend",
    "cpu_backend_conv",
    "cpu_conv",
    "cpu_max_pool",
    "gemm_conv",
    "output_size",
    "resolve_backend",
    "xla_conv",
    "xla_max_pool",
]
