"""The cyclic garbage collector tuned for a process that holds many long-lived states.

Every customer's state (a few dicts and lists) lives for the whole run, and scoring allocates
a few containers per event. With Python's defaults a young-generation collection runs every
700 net allocations, and each older one walks the states again; in the offline replay that
was about 8% of the CPU (py-spy, bench/README-pipeline.md). Reference counting frees almost
everything scoring allocates; only cycles need the collector, and scoring makes none.

:func:`tune_for_long_lived_states` moves what start-up allocated (modules, config, the app)
out of the collector's sight and collects the young generation every 50,000 allocations.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
# Python's defaults for the older generations: collected after this many younger ones.
OLDER_THRESHOLDS = (10, 10)


def tune_for_long_lived_states() -> tuple[int, int, int]:
    """Freeze what exists now and raise the young generation's threshold; returns the new
    thresholds.

    >>> before = gc.get_threshold()
    >>> tune_for_long_lived_states()
    (50000, 10, 10)
    >>> gc.isenabled(), gc.get_freeze_count() > 0
    (True, True)
    >>> gc.unfreeze(); gc.set_threshold(*before)  # as it was, for the rest of this process
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
    return gc.get_threshold()
