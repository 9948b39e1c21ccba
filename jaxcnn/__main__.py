"""``python -m jaxcnn``: the ``jaxcnn`` command, for a checkout that is not pip-installed."""

import sys

from jaxcnn.cli import main

sys.exit(main())
