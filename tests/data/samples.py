"""Two-sample comparison of sampled parameters (jaxcnn's draws against torchvision's)."""

import numpy as np


def two_sample_ks(a: np.ndarray, b: np.ndarray) -> float:
    """The Kolmogorov-Smirnov distance between the empirical distributions of ``a`` and ``b``."""
    grid = np.union1d(a, b)
    cdf = lambda s: np.searchsorted(np.sort(s), grid, side="right") / len(s)  # noqa: E731
    return float(np.abs(cdf(a) - cdf(b)).max())


def ks_limit(n: int) -> float:
    """The KS test's critical distance at the 0.1% level for two samples of ``n``."""
    return 1.95 * np.sqrt(2 / n)
