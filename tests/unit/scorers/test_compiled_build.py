"""The mypyc build of ``scorers/`` (``make compiled``, in ``.compiled/``) is the pure-Python
package, only faster: the same file scored by both gives the same bytes.

Both sides run in a child process, one with ``PYTHONPATH=.compiled``, and each reports which
build it imported, so the comparison cannot pass by scoring pure Python twice. What is
compared is everything a replay produces: every alert, each customer's last score message
and the encoded state row of every customer (every decayed sum, to the last bit), valued at
the end of the file as a live worker would be.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from scorers.timefmt import format_ms
from streams.laptop.simulator import SimSpec, simulate

ROOT = Path(__file__).resolve().parents[3]
COMPILED = ROOT / ".compiled"

REPLAY = """
import hashlib, sys
from pathlib import Path
import orjson
import scorers.model
from scorers.config import DEFAULT_CONFIG
from scorers.timefmt import parse_rfc3339_ms
from streams.tools.offline_scoring import read_lines, score_lines

lines = list(read_lines(Path(sys.argv[1])))
result = score_lines(lines, DEFAULT_CONFIG, reference_ms=None,
                     as_of_ms=parse_rfc3339_ms(sys.argv[2]))
digest = hashlib.sha256()
for alert in result.alerts:
    digest.update(orjson.dumps(alert, option=orjson.OPT_SORT_KEYS))
for customer in sorted(result.scores):
    digest.update(orjson.dumps(result.scores[customer], option=orjson.OPT_SORT_KEYS))
    digest.update(result.states[customer].to_bytes())
print(orjson.dumps({"model": scorers.model.__file__, "events": result.events,
                    "alerts": len(result.alerts), "digest": digest.hexdigest()}).decode())
"""


def _replay(path: Path, as_of: str, *, compiled: bool) -> dict[str, object]:
    env = {key: value for key, value in os.environ.items() if key != "RELSCORE_TEST_COMPILED"}
    env.pop("PYTHONPATH", None)
    if compiled:
        env["PYTHONPATH"] = str(COMPILED)
    # -P: the working directory (the repository, with the pure scorers/) is not put first.
    done = subprocess.run([sys.executable, "-P", "-c", REPLAY, str(path), as_of], cwd=ROOT, env=env,
                          capture_output=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report: dict[str, object] = orjson.loads(done.stdout.splitlines()[-1])
    return report


def _require_fresh_build() -> None:
    if not (COMPILED / ".built").exists():
        pytest.fail(f"no compiled build in {COMPILED}: run `make compiled` (make unit and make "
                    "test build it first)")
    stale = [source.name for source in sorted((ROOT / "scorers").glob("*.py"))
             if (COMPILED / "scorers" / source.name).read_bytes() != source.read_bytes()]
    if stale:
        pytest.fail(f"the compiled build in {COMPILED} is older than scorers/ ({', '.join(stale)}"
                    "): run `make compiled`")


def test_the_compiled_build_scores_a_replay_byte_for_byte_like_the_pure_package(
    tmp_path: Path,
) -> None:
    _require_fresh_build()
    spec = SimSpec(customers=150, days=60, seed=5)
    path = tmp_path / "sim.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in simulate(spec).lines()))
    as_of = format_ms(spec.end_ms)  # every due time up to the last day fires

    pure = _replay(path, as_of, compiled=False)
    compiled = _replay(path, as_of, compiled=True)

    assert str(pure["model"]).endswith(".py"), pure
    assert str(compiled["model"]).endswith(".so"), compiled
    assert int(str(pure["events"])) > 3000 and int(str(pure["alerts"])) > 10, pure
    assert {k: v for k, v in compiled.items() if k != "model"} == \
        {k: v for k, v in pure.items() if k != "model"}
