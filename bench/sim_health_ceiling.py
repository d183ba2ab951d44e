"""What the simulator's own health curves say at a cut: the ceiling for any behavioural model.

    .venv/bin/python bench/sim_health_ceiling.py [--customers 400] [--days 90] [--seed 1]
        [--cut-day 45] [--window-days 14]

Each simulated customer's behaviour is drawn from a health curve ``h(day)`` (see
``streams.laptop.simulator``). This prints, against the simulator's truth (churning persona =
churned), the AUC and the churn per health band of two oracles: the health on the cut day
itself, and its mean over the ``--window-days`` before the cut. A model sees behaviour, which
lags health, so it sits between the two: if even the windowed mean is out of band order, no
model scoring recent behaviour can have its bands in order at that cut.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams.laptop import simulator as sim
from streams.tools.backtest import auc

BANDS = ((0.8, "excellent"), (0.6, "good"), (0.4, "fair"), (0.0, "poor"))


def health_at(
    spec: sim.SimSpec, cut_day: float, window_days: int,
) -> list[tuple[str, float, float]]:
    """(persona, health on the cut day, mean health over the window before it) per customer,
    drawn exactly as :func:`streams.laptop.simulator.simulate` draws them."""
    rng = random.Random(f"relscore-sim:{spec.seed}:{spec.customers}:{spec.days}")
    cids = sim._customer_ids(spec.customers, rng)
    mix = sim.persona_mix(spec.customers)
    personas = [p for p in sim.PERSONAS for _ in range(mix[p])]
    rng.shuffle(personas)
    rows = []
    for cid, persona in zip(cids, personas, strict=True):
        curve = sim._Customer(cid, persona, None, spec,
                              random.Random(f"relscore-sim:{spec.seed}:{cid}")).curve
        window = [curve(cut_day - k) for k in range(window_days)]
        rows.append((persona, curve(cut_day), sum(window) / len(window)))
    return rows


def band(health: float) -> str:
    return next(name for floor, name in BANDS if health >= floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cut-day", type=float, default=None, help="default: mid-way")
    parser.add_argument("--window-days", type=int, default=14)
    args = parser.parse_args()
    spec = sim.SimSpec(customers=args.customers, days=args.days, seed=args.seed)
    cut_day = args.days / 2 if args.cut_day is None else args.cut_day
    rows = health_at(spec, cut_day, args.window_days)
    for label, index in ((f"health on day {cut_day:g}", 1),
                         (f"mean health over the {args.window_days} days before", 2)):
        churned = [100 * row[index] for row in rows if row[0] == "churning"]
        stayed = [100 * row[index] for row in rows if row[0] != "churning"]
        print(f"{label}: AUC {auc(churned, stayed):.3f}")
        for _, name in BANDS:
            members = [row for row in rows if band(row[index]) == name]
            left = sum(1 for row in members if row[0] == "churning")
            personas = dict(Counter(row[0] for row in members).most_common())
            rate = f"{left / len(members):.2f}" if members else "-"
            print(f"  {name:9s} churn {rate} of {len(members):4d}  {personas}")


if __name__ == "__main__":
    main()
