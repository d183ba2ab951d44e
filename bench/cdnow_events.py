"""Turn the CDNOW purchase history into a relscore event file, for ``relscore backtest``.

CDNOW is a public history of 23,570 customers' CD purchases from January 1997 to June 1998
(purchases only, one product line), shipped inside PyPI packages for customer-base analysis
(the ``lifetimes`` wheel holds it as ``lifetimes/datasets/CDNOW_master.txt``, and a 1-in-10
sample of the customers as ``CDNOW_sample.txt``, which this script reads too). The data is not
part of this repository; fetch it, convert it, and backtest the model on it::

    pip download --no-deps lifetimes -d /tmp/cdnow
    unzip -p /tmp/cdnow/Lifetimes-*.whl lifetimes/datasets/CDNOW_master.txt > /tmp/CDNOW_master.txt
    python bench/cdnow_events.py /tmp/CDNOW_master.txt /tmp/cdnow.jsonl
    relscore backtest /tmp/cdnow.jsonl --cut 1997-10-01 --horizon-days 273

Each line of CDNOW_master.txt is ``customer date(YYYYMMDD) cds dollars``; each becomes one
purchase at noon UTC of its day (the data has no time of day). Lines with no dollars (a few
free orders) become purchases of 0.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson


def convert(source: Path, target: Path) -> int:
    """Write ``target`` from ``source``; returns the number of events."""
    count = 0
    with source.open() as lines, target.open("wb") as out:
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if len(fields) == 5:  # CDNOW_sample.txt: customer, its id in the master, ...
                fields = [fields[0], *fields[2:]]
            if len(fields) != 4 or not fields[1].isdigit():
                continue  # the header line
            customer, day, cds, dollars = fields
            ts = datetime.strptime(day, "%Y%m%d").replace(hour=12, tzinfo=UTC)
            event = {
                "topic": "purchases", "event_id": f"cdnow-{number}",
                "customer_id": f"cdnow-{customer}", "ts": int(ts.timestamp() * 1000),
                "order_id": f"cdnow-o{number}", "amount": max(0.0, float(dollars)),
                "product_id": "cd", "quantity": max(1, int(cds)),
            }
            out.write(orjson.dumps(event) + b"\n")
            count += 1
    return count


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python bench/cdnow_events.py CDNOW_master.txt OUT.jsonl")
    print(f"{convert(Path(sys.argv[1]), Path(sys.argv[2])):,} purchases written to {sys.argv[2]}")
