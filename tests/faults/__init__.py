"""Fault-injection suite (make test-faults)."""

import warnings

# kafka-python 3.0 loads its protocol schemas on import (the rig imports it
# while pytest collects) with importlib.resources calls deprecated in Python
# 3.11: hundreds of warnings, none ours.
for _api in ("read_text", "open_text"):
    warnings.filterwarnings("ignore", f"{_api} is deprecated", DeprecationWarning)
