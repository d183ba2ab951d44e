"""A stuck commit made visible: for how long each input partition's committed offset has not
moved while records read past it wait.

Delivery is at-least-once: a partition's offset is committed only once its records' outputs
are acknowledged and its state written. An agent blocked on a producer that cannot deliver
(an output topic refusing writes, say) keeps reading into its buffer while its commits stand
still; after a crash those records are scored again, and meanwhile their scores are late.
The end offset minus the committed offset (consumer lag) cannot tell that apart from a busy
worker, and misleads in three cases this watch avoids:

- a partition that moved to another worker: its gauge child is removed here, not left with
  its last value;
- a transaction marker at the end of a topic: the end offset stays one past the last record
  for ever; only records *delivered* to the worker count as waiting, and a marker never is;
- a long cold recovery: nothing is delivered and the watch reads 0 until it is over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

TopicPartition = tuple[str, int]


@dataclass
class CommitWatch:
    """Per partition, the time its committed offset last moved or nothing was waiting.

    ``observe`` takes, per assigned partition, the offset of the last record delivered to
    the worker (``read``) and the committed offset (the next one a restart would read), and
    returns for how long records have waited behind an unmoving commit (0 when none wait).

    Examples:

    >>> watch = CommitWatch()
    >>> tp = ("purchases", 0)
    >>> watch.observe(100.0, committed={tp: 41}, read={tp: 40}, assigned=[tp])  # all done
    {('purchases', 0): 0.0}
    >>> watch.observe(105.0, committed={tp: 41}, read={tp: 90}, assigned=[tp])  # read on
    {('purchases', 0): 5.0}
    >>> watch.observe(130.0, committed={tp: 41}, read={tp: 95}, assigned=[tp])  # stuck
    {('purchases', 0): 30.0}
    >>> watch.observe(135.0, committed={tp: 80}, read={tp: 99}, assigned=[tp])  # it moved
    {('purchases', 0): 0.0}
    >>> watch.observe(140.0, committed={tp: 80}, read={tp: 99}, assigned=[tp], recovering=True)
    {('purchases', 0): 0.0}
    >>> watch.observe(145.0, committed={}, read={}, assigned=[])  # revoked: forgotten
    {}
    """

    since: dict[TopicPartition, float] = field(default_factory=dict)
    last_committed: dict[TopicPartition, int | None] = field(default_factory=dict)

    def observe(self, now_s: float, committed: Mapping[TopicPartition, int | None],
                read: Mapping[TopicPartition, int | None], assigned: Iterable[TopicPartition],
                recovering: bool = False) -> dict[TopicPartition, float]:
        """Seconds each assigned partition's records have waited behind its commit."""
        stalled: dict[TopicPartition, float] = {}
        current = set(assigned)
        for tp in sorted(current):
            commit, last_read = committed.get(tp), read.get(tp)
            waiting = last_read is not None and (commit is None or last_read >= commit)
            if (recovering or not waiting or tp not in self.since
                    or self.last_committed.get(tp) != commit):
                self.since[tp] = now_s
                self.last_committed[tp] = commit
            stalled[tp] = now_s - self.since[tp] if waiting and not recovering else 0.0
        for tp in set(self.since) - current:
            del self.since[tp]
            self.last_committed.pop(tp, None)
        return stalled
