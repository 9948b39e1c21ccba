"""Two-sample comparison of sampled parameters (jaxcnn's draws against torchvision's and timm's)."""

import collections

import numpy as np


def two_sample_ks(a: np.ndarray, b: np.ndarray) -> float:
    """The Kolmogorov-Smirnov distance between the empirical distributions of ``a`` and ``b``."""
    grid = np.union1d(a, b)
    cdf = lambda s: np.searchsorted(np.sort(s), grid, side="right") / len(s)  # noqa: E731
    return float(np.abs(cdf(a) - cdf(b)).max())


def ks_limit(n: int) -> float:
    """The KS test's critical distance at the 0.1% level for two samples of ``n``."""
    return 1.95 * np.sqrt(2 / n)


def chi_square_p(a: collections.Counter, b: collections.Counter) -> float:
    """The p-value of the chi-square test that the two tables of counts come from one distribution
    (categories seen fewer than 10 times in all are pooled)."""
    from scipy import stats  # a dependency of jax

    keys = sorted(set(a) | set(b), key=str)
    table = np.array([[a[k] for k in keys], [b[k] for k in keys]], np.float64)
    rare = table.sum(0) < 10
    table = np.concatenate([table[:, ~rare], table[:, rare].sum(1, keepdims=True)], axis=1)
    table = table[:, table.sum(0) > 0]
    return float(stats.chi2_contingency(table)[1])
