"""Fixtures of the fault tests: one seeded workload shared by every test (its expected outcome
is computed once, by the offline scorer). Registered by ``pytest_plugins`` in
``tests/conftest.py``, beside the stack fixtures they build on.

``RELSCORE_FAULT_SEED`` picks another workload and other fault points; every test prints the
seed it used so that a failure can be replayed.
"""

from __future__ import annotations

import os

import pytest

from scorers.config import DAY_MS, DEFAULT_CONFIG
from streams.settings import Settings
from streams.tools.offline_scoring import OfflineResult
from tests.support.fault_harness import Workload, generate

DEFAULT_SEED = 1128
# 200 customers over three rounds ten days apart: about 1,100 events and 40 alerts of every
# kind, and (at the time of writing) some 11,000 decay re-scores: a run takes ~20 s here.
CUSTOMERS = 200
ROUNDS = 3
ROUND_GAP_MS = 10 * DAY_MS


@pytest.fixture(scope="session")
def fault_seed() -> int:
    return int(os.environ.get("RELSCORE_FAULT_SEED", DEFAULT_SEED))


@pytest.fixture(scope="session")
def workload(stack: Settings, fault_seed: int) -> Workload:
    return generate(fault_seed, CUSTOMERS, ROUNDS, partitions=stack.topics.partitions,
                    round_gap_ms=ROUND_GAP_MS)


@pytest.fixture(scope="session")
def expected(workload: Workload, stack: Settings) -> OfflineResult:
    return workload.expected(DEFAULT_CONFIG, stack)

