"""The run folder, every file it holds and the one module that writes and reads each:

- ``.lock`` (one run per folder) and safe writing of every file: ``lock``;
- ``config.json`` (settings, the data's description, parallelism), ``metrics.jsonl`` and
  ``curves.png``: ``record``;
- ``checkpoints/`` (and ``unreadable-checkpoints/``): ``checkpoints``.
"""
