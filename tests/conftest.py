"""The suite's shared fixtures, and its hypothesis profiles.

The fixtures live in ``tests/support`` and are registered here, the pytest way, for every
folder: the real stack and its per-test settings, worker processes and event producer
(``stack_fixtures``), the fault tests' seeded workload (``fault_fixtures``), and the SASL_SSL
Kafka and TLS Redis of the security tests (``secure_fixtures``).

Hypothesis profiles: the suite draws a fixed set of examples unless asked to explore.

``make test`` (and so CI) runs the ``fixed`` profile: every property test draws the same
examples on every run, so a merge is never refused for an example no one has seen before.
``HYPOTHESIS_PROFILE=explore make test`` draws new random examples; a failure prints the
example, to be kept as an ``@example`` or a unit test.

``RELSCORE_TEST_COMPILED=1`` runs the tests on the mypyc build of ``scorers/`` in
``.compiled/`` (``make compiled``; ``make test`` runs the offline tests both ways), here and in
the processes the tests start. Tests marked ``pure_only`` patch the model's internals, which a
compiled module does not see: they run in the pure-Python pass.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

if os.environ.get("RELSCORE_TEST_COMPILED"):
    COMPILED = Path(__file__).resolve().parents[1] / ".compiled"
    sys.path.insert(0, str(COMPILED))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(COMPILED), os.environ.get("PYTHONPATH")]))
    import scorers.model

    if not str(scorers.model.__file__).endswith(".so"):
        raise pytest.UsageError(
            f"RELSCORE_TEST_COMPILED is set but scorers.model is {scorers.model.__file__}, "
            "not the mypyc build: run `make compiled` first")

pytest_plugins = [
    "tests.support.stack_fixtures",
    "tests.support.fault_fixtures",
    "tests.support.secure_fixtures",
]

settings.register_profile("fixed", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))
