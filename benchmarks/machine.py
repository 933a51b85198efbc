"""Kept for the imports written before `benchmarks.common`; use that module.

`machine_description` and `load_average` live in `benchmarks.common`, the
runner every benchmark shares.
"""

from benchmarks.common import load_average  # noqa: F401
from benchmarks.common import machine_description  # noqa: F401
