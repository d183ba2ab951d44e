"""Customers per band, as a gauge, for the customers whose state this worker holds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from scorers.model import BAND_NAMES, band_of
from streams.runtime import metrics


class BandCounts:
    """Kept up to date per event (a band change moves one customer) and recounted after a
    table recovery, so the per-event cost stays O(1)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._publish()

    def move(self, before: str | None, after: str | None) -> None:
        if before == after:
            return
        if before is not None:
            self.counts[before] -= 1
            metrics.child(metrics.CUSTOMERS, before).set(self.counts[before])
        if after is not None:
            self.counts[after] += 1
            metrics.child(metrics.CUSTOMERS, after).set(self.counts[after])

    def recount(self, scores: Iterable[float | None]) -> None:
        """Start over from the published scores of the customers held (None: not scored)."""
        counts: Counter[str] = Counter()
        for score in scores:
            if score is not None:
                counts[band_of(score)] += 1
        self.counts = counts
        self._publish()

    def _publish(self) -> None:
        for band in BAND_NAMES:
            metrics.child(metrics.CUSTOMERS, band).set(self.counts.get(band, 0))
