"""Hypothesis profiles: random exploration on developer machines, a fixed draw in CI.

With ``CI`` set (``.ci/run`` sets it, as CI services do), every property test draws the same
examples on every run, so a merge is never refused for an example no one has seen before.
New examples are found on developer machines, where a failure prints the example to keep.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
