"""Who may use the worker's web server: bearer tokens from ``RELSCORE_API_TOKENS``.

One aiohttp middleware (:func:`access_middleware`) on Faust's web application sees every
request before its view, so every route is covered, also the ones added later. The decision
itself is the pure :func:`decide`:

- no tokens configured: everything is open (the worker warns at start, :func:`announce`);
- ``GET``/``HEAD`` of the page ``/`` and of ``/static/...`` are open (no data in them; the page
  asks for a token), and so are ``/healthz`` and ``/metrics`` while ``RELSCORE_API_OPEN_HEALTH``;
- everything else needs ``Authorization: Bearer <token>``: none or an unknown one is a 401;
- a ``read`` token on a write (any method but GET, HEAD, OPTIONS) or on an operate route
  (:data:`OPERATE_ROUTES`: acknowledge, snooze) is a 403; an ``operate`` token may do all.

Tokens are compared in constant time, each against every configured one; no token, nor any
part of an ``Authorization`` header, is logged.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from streams.runtime import metrics
from streams.settings import OPERATE, ApiToken, WebSettings

log = logging.getLogger(__name__)

# Open without a token: what the page needs to load before it can ask for one.
PUBLIC_PAGES = ("/",)
PUBLIC_PREFIXES = ("/static/",)
HEALTH_PAGES = ("/healthz", "/metrics")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Routes (aiohttp canonical patterns) that need an operate token whatever the method.
OPERATE_ROUTES = frozenset({"/alerts/{alert_id}/ack", "/alerts/{alert_id}/snooze"})

CHALLENGE = 'Bearer realm="relscore"'
BAD_TOKEN_CHALLENGE = 'Bearer realm="relscore", error="invalid_token"'


@dataclass(frozen=True)
class Verdict:
    """What to do with a request: ``status`` 200 (go on), 401 or 403, and why."""

    status: int
    detail: str = ""
    challenge: str | None = None  # WWW-Authenticate, with a 401

    @property
    def allowed(self) -> bool:
        return self.status == 200


ALLOW = Verdict(200)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme in any case).

    >>> bearer_token("Bearer abc123"), bearer_token("bearer  abc123 "), bearer_token("Basic x")
    ('abc123', 'abc123', None)
    """
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def find_token(presented: str, tokens: Sequence[ApiToken]) -> ApiToken | None:
    """The configured token equal to ``presented``, compared in constant time against every
    one (no early exit, so timing tells nothing about which came close).

    >>> find_token("b2", [ApiToken("read", "a1", "read#1"), ApiToken("operate", "b2", "x")]).role
    'operate'
    >>> find_token("zz", [ApiToken("read", "a1", "read#1")]) is None
    True
    """
    wanted = presented.encode("utf-8", "surrogateescape")
    found: ApiToken | None = None
    for token in tokens:
        if hmac.compare_digest(wanted, token.token.encode("utf-8")):
            found = token
    return found


def is_public(method: str, path: str, open_health: bool) -> bool:
    """Whether ``method path`` is served without a token.

    >>> is_public("GET", "/static/app.js", False), is_public("GET", "/metrics", True)
    (True, True)
    >>> is_public("GET", "/metrics", False), is_public("POST", "/", True)
    (False, False)
    """
    if method not in ("GET", "HEAD"):
        return False
    if path in PUBLIC_PAGES or path.startswith(PUBLIC_PREFIXES):
        return True
    return open_health and path in HEALTH_PAGES


def needs_operate(method: str, route: str | None) -> bool:
    """Whether a request changes something: a write method, or an operate route.

    >>> needs_operate("POST", "/at-risk"), needs_operate("HEAD", "/alerts/{alert_id}/ack")
    (True, True)
    >>> needs_operate("GET", "/customers/{customer_id}")
    False
    """
    return method not in READ_METHODS or route in OPERATE_ROUTES


def decide(method: str, path: str, route: str | None, authorization: str | None,
           tokens: Sequence[ApiToken], open_health: bool = True) -> Verdict:
    """Allow, 401 or 403 for a request: ``path`` as asked, ``route`` the pattern it matched
    (``/alerts/{alert_id}/ack``; None when none did), ``authorization`` its header.

    >>> tokens = [ApiToken("read", "r1", "read#1"), ApiToken("operate", "o1", "operate#2")]
    >>> decide("GET", "/at-risk", "/at-risk", None, tokens).status
    401
    >>> decide("GET", "/at-risk", "/at-risk", "Bearer nope", tokens).status
    401
    >>> decide("GET", "/at-risk", "/at-risk", "Bearer r1", tokens).status
    200
    >>> ack = "/alerts/{alert_id}/ack"
    >>> decide("POST", "/alerts/a:1/ack", ack, "Bearer r1", tokens).status
    403
    >>> decide("POST", "/alerts/a:1/ack", ack, "Bearer o1", tokens).status
    200
    >>> decide("GET", "/", "/", None, tokens).status, decide("GET", "/x", None, None, []).status
    (200, 200)
    >>> decide("GET", "/healthz", "/healthz", None, tokens, open_health=False).status
    401
    """
    method = method.upper()
    if not tokens or is_public(method, path, open_health):
        return ALLOW
    presented = bearer_token(authorization)
    if presented is None:
        return Verdict(401, "this API needs a token: send 'Authorization: Bearer <token>' "
                            "(ask whoever runs relscore for one)", CHALLENGE)
    token = find_token(presented, tokens)
    if token is None:
        return Verdict(401, "the bearer token is not valid here; send a current one",
                       BAD_TOKEN_CHALLENGE)
    if needs_operate(method, route) and token.role != OPERATE:
        return Verdict(403, f"a {token.role} token may read but not change anything; "
                            "acknowledging and snoozing alerts need an operate token")
    return ALLOW


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def refusal(verdict: Verdict) -> web.Response:
    """The JSON answer to a refused request (``{"error", "detail"}`` like every view)."""
    code = "unauthorized" if verdict.status == 401 else "forbidden"
    headers = {"WWW-Authenticate": verdict.challenge} if verdict.challenge else None
    return web.json_response({"error": code, "detail": verdict.detail},
                             status=verdict.status, headers=headers)


def access_middleware(settings: WebSettings) -> Callable[[web.Request, Handler],
                                                         Awaitable[web.StreamResponse]]:
    """The aiohttp middleware enforcing :func:`decide` with ``settings``' tokens (parsed once).

    Install it when the application is built (Faust's ``web_application_options``), so it
    is there before the first route is served.
    """
    tokens = settings.tokens
    open_health = settings.api_open_health

    @web.middleware
    async def check_access(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.resource
        pattern = route.canonical if route is not None else None
        verdict = decide(request.method, request.path, pattern,
                         request.headers.get("Authorization"), tokens, open_health)
        if verdict.allowed:
            return await handler(request)
        metrics.API_REFUSALS.labels(str(verdict.status)).inc()
        log.debug("refused %s %s: %d (%s)", request.method, pattern or "(no route)",
                 verdict.status, "no token" if verdict.challenge == CHALLENGE else
                 "unknown token" if verdict.status == 401 else "read token on a write")
        return refusal(verdict)

    return check_access


def announce(settings: WebSettings) -> None:
    """Say at start how the API is guarded: one WARNING when it is open to anyone."""
    tokens = settings.tokens
    if not tokens:
        log.warning(
            "the HTTP API on port %d is open: anyone who reaches the port can read every "
            "customer's score and acknowledge or snooze alerts; set RELSCORE_API_TOKENS="
            "read:TOKEN,operate:TOKEN to require bearer tokens", settings.port)
        return
    roles = sorted({t.role for t in tokens})
    log.info("HTTP API needs a bearer token (%d configured: %s); /healthz and /metrics %s",
             len(tokens), ", ".join(f"{sum(t.role == r for t in tokens)} {r}" for r in roles),
             "open" if settings.api_open_health else "need one too")
