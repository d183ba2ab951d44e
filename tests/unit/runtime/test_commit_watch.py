"""The commit watch (streams.runtime.commit_watch): a stuck commit shows, the false alarms of
consumer lag do not."""

from __future__ import annotations

from streams.runtime.commit_watch import CommitWatch

TP = ("purchases", 0)
OTHER = ("interactions", 3)


def test_records_waiting_behind_an_unmoving_commit_count_up_from_when_they_started() -> None:
    watch = CommitWatch()
    assert watch.observe(0.0, {TP: 100}, {TP: 99}, [TP]) == {TP: 0.0}  # caught up
    assert watch.observe(5.0, {TP: 100}, {TP: 150}, [TP]) == {TP: 5.0}
    assert watch.observe(65.0, {TP: 100}, {TP: 180}, [TP]) == {TP: 65.0}


def test_a_moving_commit_never_counts_even_with_records_always_waiting() -> None:
    watch = CommitWatch()
    for step in range(20):  # a busy worker: always behind, committing every 5 s
        stalled = watch.observe(5.0 * step, {TP: 1000 * step}, {TP: 1000 * step + 500}, [TP])
        assert stalled[TP] == 0.0


def test_a_transaction_marker_at_the_end_of_a_topic_is_not_a_waiting_record() -> None:
    # The last record is at offset 41, the marker at 42: the end offset is 43 for ever, but
    # the consumer delivers 41 and commits 42. Nothing waits, however long it stays so.
    watch = CommitWatch()
    for minute in range(60):
        assert watch.observe(60.0 * minute, {TP: 42}, {TP: 41}, [TP]) == {TP: 0.0}


def test_a_partition_that_moves_away_is_forgotten_and_starts_afresh_when_it_returns() -> None:
    watch = CommitWatch()
    watch.observe(0.0, {TP: 10, OTHER: 5}, {TP: 50, OTHER: 4}, [TP, OTHER])
    assert watch.observe(100.0, {TP: 10, OTHER: 5}, {TP: 50, OTHER: 4}, [TP, OTHER]) == \
        {TP: 100.0, OTHER: 0.0}
    assert watch.observe(105.0, {OTHER: 5}, {OTHER: 4}, [OTHER]) == {OTHER: 0.0}
    assert TP not in watch.since
    # Back after a rebalance, the same stuck offsets: counted from its return, not from 0.
    assert watch.observe(110.0, {TP: 10, OTHER: 5}, {TP: 50, OTHER: 4}, [TP, OTHER])[TP] == 0.0
    assert watch.observe(120.0, {TP: 10, OTHER: 5}, {TP: 50, OTHER: 4}, [TP, OTHER])[TP] == 10.0


def test_recovery_reads_zero_however_long_it_takes_and_counting_starts_after_it() -> None:
    watch = CommitWatch()
    for second in range(0, 600, 5):  # a ten-minute cold recovery with records read earlier
        assert watch.observe(float(second), {TP: 10}, {TP: 50}, [TP], recovering=True) == \
            {TP: 0.0}
    # Counted from the last look that saw the recovery running (at 595 s).
    assert watch.observe(600.0, {TP: 10}, {TP: 50}, [TP]) == {TP: 5.0}
    assert watch.observe(630.0, {TP: 10}, {TP: 50}, [TP]) == {TP: 35.0}


def test_a_partition_never_committed_counts_once_records_are_delivered() -> None:
    watch = CommitWatch()
    assert watch.observe(0.0, {TP: None}, {TP: None}, [TP]) == {TP: 0.0}  # nothing read yet
    assert watch.observe(5.0, {TP: None}, {TP: 0}, [TP]) == {TP: 5.0}
    assert watch.observe(9.0, {TP: 1}, {TP: 0}, [TP]) == {TP: 0.0}  # first commit
