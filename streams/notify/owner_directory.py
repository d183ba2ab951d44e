"""Who owns each customer: the compacted owners topic, followed into memory.

The directory reads the topic from its start at every start (it is compacted: one record per
customer) and says it is ready once it has caught up with the end offsets it found, so no
alert is routed before the owners loaded so far are known. It keeps following afterwards: an
owners load takes effect within a poll. A tombstone (a record with no value) removes the
customer's owner.
"""

from __future__ import annotations

import asyncio
import logging

import orjson

from streams.notify import metrics
from streams.notify.owners import Owner
from streams.runtime.topic_follower import follow_topic
from streams.settings import Settings

log = logging.getLogger(__name__)


class OwnerDirectory:
    """Customer id -> :class:`Owner`, as the owners topic says.

    >>> directory = OwnerDirectory()
    >>> directory.apply(b"c-1", Owner("c-1", "Ana", None, None).to_json())
    >>> directory.get("c-1").owner, directory.get("c-2")
    ('Ana', None)
    >>> directory.apply(b"c-1", None); directory.get("c-1") is None
    True
    """

    def __init__(self) -> None:
        self.owners: dict[str, Owner] = {}
        self.ready = asyncio.Event()
        self.rejected = 0

    def get(self, customer_id: str) -> Owner | None:
        return self.owners.get(customer_id)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Take one record of the owners topic."""
        if value is None:
            if key is not None:
                self.owners.pop(key.decode(errors="replace"), None)
            return
        try:
            owner = Owner.from_json(value)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            self.rejected += 1
            log.warning("owners topic: a record is not an owner (key %r); it is ignored", key)
            return
        self.owners[owner.customer_id] = owner
        metrics.OWNERS.set(len(self.owners))

    async def follow(self, settings: Settings) -> None:
        """Read the owners topic from its start, set :attr:`ready` once caught up, and
        go on following it until cancelled."""
        await follow_topic(settings, settings.topics.owners, self.apply, self.ready)
