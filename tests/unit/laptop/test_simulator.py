"""The simulator: deterministic for a seed, and its personas mean what they say to the model."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from scorers.config import DEFAULT_CONFIG
from scorers.timefmt import parse_rfc3339_ms
from streams.laptop.simulator import (
    DUPLICATE,
    LATE,
    MALFORMED,
    PERSONAS,
    SimSpec,
    Simulation,
    persona_mix,
    simulate,
)
from streams.tools.offline_scoring import OfflineResult, score_lines

SEEDS = (1, 2, 3, 4)


def offline(sim: Simulation) -> OfflineResult:
    return score_lines(sim.lines(), DEFAULT_CONFIG, reference_ms=None)


def test_one_seed_gives_one_stream_and_another_seed_another() -> None:
    spec = SimSpec(customers=30, days=60, seed=11)
    first, second = simulate(spec), simulate(spec)
    assert first.lines() == second.lines()
    assert list(first.messages()) == list(second.messages())
    assert first.personas == second.personas
    assert first.events() == second.events()

    other = simulate(SimSpec(customers=30, days=60, seed=12))
    assert other.lines() != first.lines()
    assert other.personas != first.personas or other.events() != first.events()


def test_every_record_is_shaped_like_an_event_file_line_and_keyed_by_its_customer() -> None:
    sim = simulate(SimSpec(customers=20, days=60, seed=3))
    kinds = Counter(record.kind for record in sim.records)
    assert kinds[MALFORMED] == sim.counts[MALFORMED] >= 3
    assert kinds[LATE] == sim.counts[LATE] > 0
    assert kinds[DUPLICATE] == sim.counts[DUPLICATE] > 0
    assert [r.send_ms for r in sim.records] == sorted(r.send_ms for r in sim.records)
    seen_ids: Counter[str] = Counter()
    for record in sim.records:
        assert record.topic in ("purchases", "support-tickets", "interactions")
        if record.event is None:
            continue
        event = record.event
        assert event["topic"] == record.topic
        assert record.key == event["customer_id"]
        assert orjson.loads(record.value) == {k: v for k, v in event.items() if k != "topic"}
        ts = event["ts"] if isinstance(event["ts"], int) else parse_rfc3339_ms(event["ts"])
        assert sim.spec.start_ms <= ts < sim.spec.end_ms
        if record.kind == LATE:
            assert record.send_ms > ts, "a late event is sent after its event time"
        seen_ids[event["event_id"]] += 1
    # Only the deliberate duplicates repeat an event id.
    assert sum(n - 1 for n in seen_ids.values()) == sim.counts[DUPLICATE]
    assert set(sim.personas) == {r.key for r in sim.records if r.event is not None}


@pytest.mark.parametrize("customers", [1, 2, 3, 4, 5, 10, 48, 200])
def test_the_persona_mix_adds_up_and_has_every_persona_once_there_is_room(
    customers: int,
) -> None:
    mix = persona_mix(customers)
    assert sum(mix.values()) == customers
    assert set(mix) == set(PERSONAS)
    if customers >= len(PERSONAS):
        assert all(count >= 1 for count in mix.values())
    sim = simulate(SimSpec(customers=customers, days=20, seed=1))
    assert Counter(sim.personas.values()) == Counter({p: n for p, n in mix.items() if n})


@pytest.mark.parametrize("seed", SEEDS)
def test_churners_alert_loyal_customers_do_not_and_noise_is_absorbed(seed: int) -> None:
    sim = simulate(SimSpec(customers=36, days=90, seed=seed))
    result = offline(sim)

    # Noise: malformed messages are refused, duplicates counted once.
    assert len(result.rejects) == sim.counts[MALFORMED]
    assert result.duplicates == sim.counts[DUPLICATE]

    alerts: dict[str, Counter[str]] = {cid: Counter() for cid in sim.personas}
    for alert in result.alerts:
        alerts[alert["customer_id"]][alert["type"]] += 1
    final = {cid: message["score"] for cid, message in result.scores.items()}

    for cid in sim.customers_of("churning"):
        assert alerts[cid]["below_threshold"] == 1, (cid, alerts[cid], final[cid])
        assert final[cid] < 60, (cid, final[cid])
    for cid in sim.customers_of("loyal"):
        assert not alerts[cid], (cid, alerts[cid])
        assert final[cid] >= 75, (cid, final[cid])
    recovering = sim.customers_of("recovering")
    recovered = [cid for cid in recovering
                 if alerts[cid]["below_threshold"] and alerts[cid]["recovered"]]
    assert len(recovered) >= 0.75 * len(recovering), {c: alerts[c] for c in recovering}
    assert all(final[cid] >= 60 for cid in recovering), {c: final[c] for c in recovering}
    # Slipping customers end between the two: lower than every loyal one, above the churners.
    slipping = [final[cid] for cid in sim.customers_of("slipping")]
    assert max(slipping) < max(final[cid] for cid in sim.customers_of("loyal"))
    assert min(slipping) > max(final[cid] for cid in sim.customers_of("churning"))


def test_the_outcomes_say_churning_customers_churned_by_the_last_day_and_no_one_else() -> None:
    sim = simulate(SimSpec(customers=40, days=60, seed=2))
    outcomes = {o["customer_id"]: o for o in sim.outcomes()}
    assert set(outcomes) == set(sim.personas)
    churned = {c for c, o in outcomes.items() if o["churned"]}
    assert churned == set(sim.customers_of("churning")) and churned
    assert {parse_rfc3339_ms(outcomes[c]["at"]) for c in churned} == {sim.spec.end_ms}
    assert all("at" not in o for o in outcomes.values() if not o["churned"])
