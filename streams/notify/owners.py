"""Customer owners from a CRM export: one row per customer, CSV or JSONL.

A row names the customer, its owner and, optionally, the owner's email and Slack handle. A bad
row is reported with its line number and the reason; the other rows still count. A customer
listed twice takes its later row (a CRM export appended to keeps its latest line last).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from scorers.events import InvalidEvent, normalise_customer_id
from streams.runtime.owner_directory import Owner as Owner  # its home; re-exported here

FIELDS = ("customer_id", "owner", "email", "slack")
REQUIRED = ("customer_id", "owner")
MAX_OWNER_CHARS = 200
MAX_EMAIL_CHARS = 254
# One @, no spaces, a dot in the domain: what a CRM export's address looks like, no more.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
# A member id (U0123ABC), a handle (@ana.lima) or a channel (#cs-emea).
_SLACK = re.compile(r"[@#]?[A-Za-z0-9][A-Za-z0-9._-]{0,79}")
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class OwnerFileError(ValueError):
    """The file as a whole cannot be read as owners (not a row: the header, the format)."""


@dataclass(frozen=True, slots=True)
class RejectedRow:
    line: int
    reason: str


@dataclass
class OwnerFile:
    """What a file gave: the owners by customer id, and the rows refused."""

    owners: dict[str, Owner] = field(default_factory=dict)
    rejected: list[RejectedRow] = field(default_factory=list)
    # rows of a customer listed again later in the file (the later row counts)
    superseded: int = 0

    def take(self, line: int, fields: Mapping[str, object]) -> None:
        try:
            owner = owner_from_fields(fields)
        except ValueError as exc:
            self.rejected.append(RejectedRow(line, str(exc)))
            return
        if owner.customer_id in self.owners:
            self.superseded += 1
        self.owners[owner.customer_id] = owner


def owner_from_fields(fields: Mapping[str, object]) -> Owner:
    """One row's owner, or a ValueError saying which field is wrong and how.

    >>> owner_from_fields({"customer_id": " c-42 ", "owner": "Ana", "email": "", "slack": "@ana"})
    Owner(customer_id='c-42', owner='Ana', email=None, slack='@ana')
    >>> owner_from_fields({"customer_id": "c-42", "owner": "Ana", "email": "ana at example"})
    Traceback (most recent call last):
      ...
    ValueError: email 'ana at example' is not an email address (name@domain)
    >>> owner_from_fields({"customer_id": "c-42"})
    Traceback (most recent call last):
      ...
    ValueError: owner is missing: every row needs customer_id and owner
    """
    text: dict[str, str | None] = {}
    for name in FIELDS:
        value = fields.get(name)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be text, got {type(value).__name__}")
        text[name] = value.strip() if value and value.strip() else None
    for name in REQUIRED:
        if text[name] is None:
            raise ValueError(f"{name} is missing: every row needs customer_id and owner")
    try:
        customer_id = normalise_customer_id(str(text["customer_id"]))
    except InvalidEvent as exc:
        raise ValueError(str(exc)) from None
    owner = str(text["owner"])
    if len(owner) > MAX_OWNER_CHARS or any(
            unicodedata.category(char) in ("Cc", "Cf") for char in owner):
        raise ValueError(f"owner must be 1-{MAX_OWNER_CHARS} printable characters")
    email, slack = text["email"], text["slack"]
    if email is not None and (len(email) > MAX_EMAIL_CHARS or not _EMAIL.fullmatch(email)):
        raise ValueError(f"email {email!r:.80} is not an email address (name@domain)")
    if slack is not None and not _SLACK.fullmatch(slack):
        raise ValueError(f"slack {slack!r:.80} is not a Slack member id, @handle or #channel")
    return Owner(customer_id, owner, email, slack)


def parse_csv(text: str) -> OwnerFile:
    """Owners from CSV text with a header row; other columns of the export are ignored.

    >>> result = parse_csv("Customer_ID,Owner,Email,Region\\nc-1,Ana,ana@example.com,EMEA\\n"
    ...                    "c-2,,bo@example.com,US\\n")
    >>> sorted(result.owners), [(row.line, row.reason[:16]) for row in result.rejected]
    (['c-1'], [(3, 'owner is missing')])
    """
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = [name.strip().lower() for name in reader.fieldnames or ()]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise OwnerFileError(
            f"the header row has no {' or '.join(missing)} column (found: "
            f"{', '.join(header) or 'nothing'}); name the columns "
            f"{', '.join(FIELDS)} (email and slack may be left out)")
    reader.fieldnames = header
    result = OwnerFile()
    for row in reader:
        if not any(value and value.strip() for value in row.values() if isinstance(value, str)):
            continue
        result.take(reader.line_num, row)
    return result


def parse_jsonl(lines: Iterable[bytes]) -> OwnerFile:
    """Owners from JSON lines, one object each.

    >>> result = parse_jsonl([b'{"customer_id": "c-1", "owner": "Ana"}', b'', b'[1]'])
    >>> sorted(result.owners), result.rejected
    (['c-1'], [RejectedRow(line=3, reason='not a JSON object')])
    """
    result = OwnerFile()
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            result.rejected.append(RejectedRow(number, "not valid JSON"))
            continue
        if not isinstance(row, dict):
            result.rejected.append(RejectedRow(number, "not a JSON object"))
            continue
        result.take(number, row)
    return result


def read_owner_file(path: Path) -> OwnerFile:
    """Owners from ``path``: ``.csv``, or ``.jsonl`` / ``.ndjson``. Raises OSError when it
    cannot be read and OwnerFileError when it is not an owners file."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise OwnerFileError(f"{path.name}: name the file .csv or .jsonl, so its format is known")
    data = path.read_bytes()
    if kind == "jsonl":
        return parse_jsonl(data.splitlines())
    try:
        return parse_csv(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise OwnerFileError(f"{path.name} is not UTF-8 text (byte {exc.start}); export it "
                             "as UTF-8 CSV") from None
