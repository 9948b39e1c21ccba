"""Suite-wide set-up: 8 simulated CPU devices for the multi-device tests.

XLA reads XLA_FLAGS once, when jax first initialises a backend, so the flag is
set here, before any test module runs jax. An XLA_FLAGS that already chooses a
device count is left as it is.
"""

import os

_DEVICES = "--xla_force_host_platform_device_count=8"
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_DEVICES}".strip()
