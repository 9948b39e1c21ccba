"""Measure a CNN: per-layer shapes, parameters, MACs and receptive fields, and the course's
design rules for classifiers checked against them (``jaxcnn.summary``)."""

from jaxcnn.inspect.summary import Summary, add_summary_parser, summary, summary_command
from jaxcnn.inspect.walker import Row

__all__ = ["Row", "Summary", "add_summary_parser", "summary", "summary_command"]
