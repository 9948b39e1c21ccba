"""Measure a CNN: per-layer shapes, parameters, MACs and receptive fields, and the course's
design rules for classifiers checked against them (``jaxcnn.summary``).

Its names are imported on first use (``jaxcnn.lazy``): ``jaxcnn.inspect.summary_cli`` alone loads no jax.
"""

from typing import TYPE_CHECKING

from jaxcnn.lazy import lazy_exports

if TYPE_CHECKING:
    from jaxcnn.inspect.summary import Summary, summary
    from jaxcnn.inspect.summary_cli import add_summary_parser, summary_command
    from jaxcnn.inspect.walker import Row

__all__ = ["Row", "Summary", "add_summary_parser", "summary", "summary_command"]

__getattr__, __dir__ = lazy_exports(__name__)
