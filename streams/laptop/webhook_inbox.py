"""A local webhook receiver (aiohttp's server in a thread of its own): the demo's stand-in for
a customer-success tool, and the integration tests' receiver.

It keeps every request in arrival order and checks each body's ``X-Relscore-Signature``
against the secret it was given. Answers follow ``script``, one per request: an HTTP status,
``"hang"`` (no answer until the inbox closes; kept with status 0), or ``("slow", seconds)``
(200 after a pause); once the script is used up it answers 200.
"""

from __future__ import annotations

import asyncio
import hmac
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from streams.notify.messages import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signature

Answer = int | str | tuple[str, float]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One request the inbox received, and what it answered."""

    path: str
    idempotency_key: str | None
    signed: bool
    body: bytes
    status: int

    def json(self) -> Any:
        return orjson.loads(self.body)


class WebhookInbox:
    """``with WebhookInbox(secret) as inbox:`` serves on a free local port; ``inbox.url``."""

    def __init__(self, secret: str | None = None, script: Iterable[Answer] = (),
                 host: str = "127.0.0.1") -> None:
        self.secret = secret
        self.script = list(script)
        self.host = host
        self.url = ""
        self._received: list[Delivery] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._released = asyncio.Event()
        self._thread = threading.Thread(target=self._loop.run_forever, name="webhook-inbox",
                                        daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def received(self) -> list[Delivery]:
        with self._lock:
            return list(self._received)

    def answered(self, status_class: int = 2) -> list[Delivery]:
        """The requests answered with a ``status_class``xx status (default: taken)."""
        return [d for d in self.received if d.status // 100 == status_class]

    def start(self) -> WebhookInbox:
        """Serve (returns once the port is open; :attr:`url` is then set)."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def close(self) -> None:
        """Stop serving (answering any hung request); harmless when never started."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> WebhookInbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def _start(self) -> None:
        self._released = asyncio.Event()
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://{self.host}:{port}/hook"

    async def _stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def _valid_signature(self, request: web.Request, body: bytes) -> bool:
        given = request.headers.get(SIGNATURE_HEADER)
        if self.secret is None or given is None:
            return False
        return hmac.compare_digest(given, signature(self.secret, body))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            answer: Answer = self.script.pop(0) if self.script else 200
        status = 200
        if answer == "hang":  # kept as asked (status 0), never answered
            with self._lock:
                self._received.append(Delivery(request.path,
                                               request.headers.get(IDEMPOTENCY_HEADER),
                                               self._valid_signature(request, body), body, 0))
            await self._released.wait()
            return web.Response(status=503)
        if isinstance(answer, tuple):
            await asyncio.sleep(answer[1])
        elif isinstance(answer, int):
            status = answer
        with self._lock:
            self._received.append(Delivery(request.path, request.headers.get(IDEMPOTENCY_HEADER),
                                           self._valid_signature(request, body), body, status))
        return web.Response(status=status, text="ok" if status < 300 else "no")
