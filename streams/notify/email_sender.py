"""Sending one notification email over SMTP (STARTTLS and login), with retries.

The standard library's SMTP client runs in a worker thread, so a slow mail server holds no
event loop. A refused connection, a timeout, a dropped connection and a 4xx answer (the
server's "try again later") are retried with the webhook's backoff; a 5xx answer, a refused
login or a certificate the CA file does not vouch for is final. Reasons never carry the
password.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage

from streams.notify.routes import Destination
from streams.notify.webhook_sender import Outcome, Sleep, retry_delay

log = logging.getLogger(__name__)


class _Final(Exception):
    """A failure that sending again cannot fix."""


def _send_once(destination: Destination, message: EmailMessage) -> None:
    host = str(destination.smtp_host)
    with smtplib.SMTP(host, destination.smtp_port, timeout=destination.timeout_s) as smtp:
        if destination.starttls:
            context = ssl.create_default_context(cafile=destination.ca_file)
            try:
                smtp.starttls(context=context)
            except smtplib.SMTPNotSupportedError:
                raise _Final("the server offers no STARTTLS (set starttls = false only for a "
                             "server on a trusted network)") from None
            except ssl.SSLCertVerificationError as exc:
                raise _Final(f"its certificate is not trusted ({exc.verify_message}); give "
                             "its CA in ca_file") from None
        if destination.username is not None:
            try:
                smtp.login(destination.username, str(destination.password))
            except smtplib.SMTPAuthenticationError as exc:
                raise _Final(f"login refused (SMTP {exc.smtp_code})") from None
        smtp.send_message(message)


async def send_with_retries(destination: Destination, message: EmailMessage, *,
                            sleep: Sleep = asyncio.sleep) -> Outcome:
    """Send ``message`` through ``destination``'s server until it is accepted, refused for
    good, or ``destination.retries`` retries have failed."""
    reason = ""
    for attempt in range(1, destination.retries + 2):
        try:
            await asyncio.to_thread(_send_once, destination, message)
            return Outcome(True, attempt)
        except _Final as exc:
            return Outcome(False, attempt, f"{exc}, not retried")
        except smtplib.SMTPResponseException as exc:
            reason = f"SMTP {exc.smtp_code}"
            if exc.smtp_code >= 500:
                return Outcome(False, attempt, f"{reason}, not retried", exc.smtp_code)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            if all(code >= 500 for code in codes):
                return Outcome(False, attempt, f"recipient refused (SMTP {codes[0]}), not "
                               "retried", codes[0])
            reason = f"recipient deferred (SMTP {codes[0]})"
        except (smtplib.SMTPException, OSError) as exc:  # refused, timed out, dropped
            reason = f"cannot reach the SMTP server ({exc.__class__.__name__})"
        if attempt <= destination.retries:
            log.info("email to destination %s failed (%s); retry %d of %d", destination.name,
                     reason, attempt, destination.retries)
            await sleep(retry_delay(attempt, None))
    attempts = destination.retries + 1
    return Outcome(False, attempts, f"{reason} after {attempts} attempts")
