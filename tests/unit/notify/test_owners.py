"""Owner exports as CRM tools write them: CSV dialect details, JSONL, bad rows, repeats."""

from __future__ import annotations

import csv
import io
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scorers.events import normalise_customer_id
from streams.notify.owners import (
    Owner,
    OwnerFileError,
    parse_csv,
    parse_jsonl,
    read_owner_file,
)


def test_an_excel_csv_with_bom_crlf_quotes_and_extra_columns_loads() -> None:
    text = ("\ufeffCustomer_ID , Owner,Email,Slack,Account Name\r\n"
            'c-1,"Lima, Ana",ana@example.com,U024BE7LH,"Acme, Inc."\r\n'
            "c-2,Bo Chen,,#cs-emea,Globex\r\n")
    result = parse_csv(text)
    assert result.rejected == []
    assert result.owners == {
        "c-1": Owner("c-1", "Lima, Ana", "ana@example.com", "U024BE7LH"),
        "c-2": Owner("c-2", "Bo Chen", None, "#cs-emea"),
    }


def test_a_header_without_the_required_columns_refuses_the_file_and_says_which() -> None:
    with pytest.raises(OwnerFileError, match=r"no owner column \(found: customer_id, email\)"):
        parse_csv("customer_id,email\nc-1,a@example.com\n")


@pytest.mark.parametrize(("row", "reason"), [
    ('{"customer_id": "c-1", "owner": 7}', "owner must be text, got int"),
    ('{"owner": "Ana"}', "customer_id is missing"),
    ('{"customer_id": "c-1", "owner": "Ana\\u0007"}', "owner must be 1-200 printable"),
    ('{"customer_id": "c-1", "owner": "Ana", "slack": "ana lima"}', "slack 'ana lima' is not"),
    ('{"customer_id": "c-1", "owner": "Ana", "email": "a@b"}', "email 'a@b' is not"),
    ('{"customer_id": "c-\\u200b1", "owner": "Ana"}', "invisible character U+200B"),
    ("not json", "not valid JSON"),
])
def test_each_bad_row_is_reported_with_its_line_and_the_rest_load(row: str, reason: str) -> None:
    lines = [b'{"customer_id": "c-0", "owner": "Ana"}', row.encode(),
             b'{"customer_id": "c-9", "owner": "Bo"}']
    result = parse_jsonl(lines)
    assert sorted(result.owners) == ["c-0", "c-9"]
    [rejected] = result.rejected
    assert rejected.line == 2
    assert reason in rejected.reason


def test_a_customer_listed_twice_takes_its_later_row() -> None:
    result = parse_csv("customer_id,owner\nc-1,Ana\nc-2,Bo\nc-1,Cy\n")
    assert result.owners["c-1"].owner == "Cy"
    assert result.superseded == 1


def test_ids_are_normalised_as_event_keys_are() -> None:
    decomposed = "cafe\u0301-1"
    result = parse_csv(f"customer_id,owner\n{decomposed},Ana\n")
    assert list(result.owners) == [unicodedata.normalize("NFC", decomposed)]
    assert list(result.owners) == [normalise_customer_id(decomposed)]


def test_the_format_comes_from_the_extension(tmp_path: Path) -> None:
    (tmp_path / "owners.NDJSON").write_bytes(b'{"customer_id": "c-1", "owner": "Ana"}\n')
    assert list(read_owner_file(tmp_path / "owners.NDJSON").owners) == ["c-1"]
    (tmp_path / "owners.xlsx").write_bytes(b"PK")
    with pytest.raises(OwnerFileError, match=r"name the file \.csv or \.jsonl"):
        read_owner_file(tmp_path / "owners.xlsx")
    (tmp_path / "latin1.csv").write_bytes("customer_id,owner\nc-1,Jos\xe9\n".encode("latin-1"))
    with pytest.raises(OwnerFileError, match="not UTF-8 text"):
        read_owner_file(tmp_path / "latin1.csv")


_names = st.text(st.characters(codec="utf-8", categories=("L", "N", "Zs", "P")),
                 min_size=1, max_size=40).filter(lambda s: s.strip() == s and s)
_owners = st.builds(
    Owner,
    customer_id=st.from_regex(r"c-[a-z0-9]{1,12}", fullmatch=True),
    owner=_names,
    email=st.none() | st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.[a-z]{2,4}", fullmatch=True),
    slack=st.none() | st.from_regex(r"@[a-z][a-z0-9._-]{0,20}", fullmatch=True),
)


@given(st.lists(_owners, max_size=20, unique_by=lambda owner: owner.customer_id))
def test_any_owners_written_as_csv_or_jsonl_read_back_the_same(owners: list[Owner]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["customer_id", "owner", "email", "slack"])
    for owner in owners:
        writer.writerow([owner.customer_id, owner.owner, owner.email or "", owner.slack or ""])
    expected = {owner.customer_id: owner for owner in owners}
    assert parse_csv(buffer.getvalue()).owners == expected
    assert parse_jsonl([owner.to_json() for owner in owners]).owners == expected
