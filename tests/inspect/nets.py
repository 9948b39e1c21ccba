"""Small flax models for the summary tests, built from a layer list."""

import flax.linen as nn


class Plain(nn.Module):
    """A plain CNN from a layer list: ``("conv", features, kernel, stride)``, ``("pool",)``
    (2x2/2 max-pool), ``("gap",)`` (global average pooling) and ``("dense", outputs)``.
    A kernel is an int or ``(height, width)``; convs pad ``kernel // 2`` on each side and are
    followed by ReLU."""

    layers: tuple

    @nn.compact
    def __call__(self, x):
        for kind, *args in self.layers:
            if kind == "conv":
                features, kernel, stride = args
                kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
                x = nn.relu(nn.Conv(features, kernel, stride, padding=[(k // 2, k // 2) for k in kernel])(x))
            elif kind == "pool":
                x = nn.max_pool(x, (2, 2), (2, 2))
            elif kind == "gap":
                x = x.mean(axis=(1, 2))
            elif kind == "dense":
                x = nn.Dense(args[0])(x)
        return x


def conv(features, kernel=3, stride=1):
    return ("conv", features, kernel, stride)


POOL, GAP = ("pool",), ("gap",)

# Follows every rule at 32x32: 6 convs, two halvings (32 -> 8), 16 -> 64 maps, dense head.
GOOD = (conv(16), conv(16), POOL, conv(32), conv(32), POOL, conv(64), conv(64), GAP, ("dense", 10))
