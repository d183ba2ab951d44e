"""Who owns each customer: the compacted owners topic, followed into memory.

Used by ``relscore notify`` (routing) and by the worker's views (the owner column), so it
lives in runtime, which must not import notify.

The directory reads the topic from its start at every start (it is compacted: one record per
customer) and says it is ready once it has caught up with the end offsets it found, so no
alert is routed before the owners loaded so far are known. It keeps following afterwards: an
owners load takes effect within a poll. A tombstone (a record with no value) removes the
customer's owner.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from streams.runtime.topic_follower import follow_topic
from streams.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Owner:
    """Who owns a customer, and where to reach them.

    >>> owner = Owner("c-42", "Ana Lima", "ana@example.com", None)
    >>> owner.to_json()
    b'{"customer_id":"c-42","owner":"Ana Lima","email":"ana@example.com","slack":null}'
    >>> Owner.from_json(owner.to_json()) == owner
    True
    """

    customer_id: str
    owner: str
    email: str | None
    slack: str | None

    def to_json(self) -> bytes:
        return orjson.dumps({"customer_id": self.customer_id, "owner": self.owner,
                             "email": self.email, "slack": self.slack})

    @classmethod
    def from_json(cls, data: bytes) -> Owner:
        values = orjson.loads(data)
        return cls(values["customer_id"], values["owner"], values.get("email"),
                   values.get("slack"))


class OwnerDirectory:
    """Customer id -> :class:`Owner`, as the owners topic says.

    >>> directory = OwnerDirectory()
    >>> directory.apply(b"c-1", Owner("c-1", "Ana", None, None).to_json())
    >>> directory.get("c-1").owner, directory.get("c-2")
    ('Ana', None)
    >>> directory.apply(b"c-1", None); directory.get("c-1") is None
    True
    """

    def __init__(self, on_count: Callable[[int], object] | None = None) -> None:
        self.owners: dict[str, Owner] = {}
        self.on_count = on_count  # told the number of owners after each change (a gauge)
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
        if self.on_count is not None:
            self.on_count(len(self.owners))

    async def follow(self, settings: Settings) -> None:
        """Read the owners topic from its start, set :attr:`ready` once caught up, and
        go on following it until cancelled."""
        await follow_topic(settings, settings.topics.owners, self.apply, self.ready)
