"""A real HTTP receiver for notification tests (aiohttp's server), scripted per request.

Each request gets the next answer of ``script``: an HTTP status, ``"hang"`` (never answers),
or a ``(status, headers)`` pair; once the script is used up it answers 200. Every request is
kept, body and headers, in arrival order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

Answer = int | str | tuple[int, dict[str, str]]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    url: str
    requests: list[Received] = field(default_factory=list)


@asynccontextmanager
async def webhook_receiver(script: Iterable[Answer] = ()) -> AsyncIterator[WebhookReceiver]:
    """A receiver on a free local port for the duration of the ``async with``."""
    answers = list(script)
    released = asyncio.Event()
    receiver = WebhookReceiver(url="")

    async def handle(request: web.Request) -> web.StreamResponse:
        receiver.requests.append(Received(request.path, dict(request.headers),
                                          await request.read()))
        answer: Answer = answers.pop(0) if answers else 200
        if answer == "hang":
            await released.wait()
            return web.Response(status=503)
        status, headers = answer if isinstance(answer, tuple) else (int(answer), {})
        return web.Response(status=status, headers=headers, text="ok" if status < 300 else "no")

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        released.set()
        await runner.cleanup()
