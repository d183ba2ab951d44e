"""A real SMTP server for notification tests (aiosmtpd), with STARTTLS and a login.

``answers`` scripts the replies to DATA: each message gets the next one (``"451 ..."`` defers,
``"554 ..."`` refuses), then ``250`` once the script is used up. Accepted messages are kept.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.support.secure_servers import TlsFiles


@dataclass
class SmtpReceiver:
    port: int
    accepted: list[EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)


class _Handler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.receiver.answers:
            return self.receiver.answers.pop(0)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        self.receiver.accepted.append(cast(EmailMessage, parsed))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_receiver(tls: TlsFiles, *, username: str = "relscore", password: str = "pw",
                  answers: Iterable[str] = ()) -> Iterator[SmtpReceiver]:
    """An SMTP server on 127.0.0.1 that requires STARTTLS before AUTH LOGIN/PLAIN."""
    receiver = SmtpReceiver(port=_free_port(), answers=list(answers))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls.cert), str(tls.key))

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                     data: Any) -> AuthResult:
        ok = (isinstance(data, LoginPassword) and data.login.decode() == username
              and data.password.decode() == password)
        if ok:
            receiver.logins.append(username)
        return AuthResult(success=ok, handled=False)  # the server answers 235 or 535

    controller = Controller(_Handler(receiver), hostname="127.0.0.1", port=receiver.port,
                            tls_context=context, require_starttls=True,
                            authenticator=authenticate, auth_require_tls=True)
    controller.start()
    try:
        yield receiver
    finally:
        controller.stop()
