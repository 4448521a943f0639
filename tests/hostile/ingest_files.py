"""Hostile tracking files for the ingest function (issue 18), each with the outcome
docs/ingestion.md and docs/limits.md promise for it, checked by hand against those pages.

Every file is built here (several are binary, one is 64 MiB once decompressed) and dropped
under ``tenants/acme/incoming/{name}`` by tests/integration/test_hostile_ingestion.py, which
runs it through the handler on the local stack and checks where the object ends, what the
table holds and the one notification. Memory is measured by bench/hostile_files.py, not here.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

from contract_records import Records

TENANT = "acme"
LINE_LIMIT = 1_048_576  # INGEST_MAX_LINE_BYTES' default
ITEM_LIMIT = 409_600  # DynamoDB: 400 KB an item
TYPES = "learner, entity, smartgroup, training, session, content, trainingContent, tracking, trackingLog"
NUMBER = "holds a number DynamoDB cannot store"
NESTED = "is nested more than 32 levels deep (DynamoDB's limit)"
SURROGATE = "holds text that is not valid Unicode (a lone surrogate)"
KEYED_ELSEWHERE = "tenants/acme/rejected/"


def line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def raw_line(text: str) -> bytes:
    """A line written as is: numbers and escapes json.dumps would not produce."""
    return text.encode() + b"\n"


def entity(entity_id: int) -> dict[str, Any]:
    return {
        "type": "entity",
        "tenantId": TENANT,
        "entityId": entity_id,
        "parentId": None,
        "name": f"E{entity_id}",
    }


def learner(learner_id: int, **fields: Any) -> dict[str, Any]:
    return {"type": "learner", "tenantId": TENANT, "learnerId": learner_id, **fields}


def nested(depth: int) -> Any:
    """``depth`` lists inside one another around a number."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


@dataclass(frozen=True)
class HostileFile:
    """One file, and what must become of it."""

    body: bytes
    outcome: str  # the notification's outcome
    written: dict[str, int] = field(default_factory=dict)
    # (line, type, field, rule) of the first listed rejected lines, in line order
    rejected: list[tuple[int, str | None, str | None, str]] = field(default_factory=list)
    rejected_count: int | None = None  # when more lines were rejected than are listed
    reason: str | None = None  # the start of a whole-file refusal's reason
    moved_to: str | None = None  # where the object ends, when not {folder}/{its name}
    days: dict[str, int] = field(default_factory=dict)  # the tenant's DAYS markers afterwards


def _gzip_member(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def _corrupt_after_three_lines() -> bytes:
    first = _gzip_member(b"".join(line(entity(n)) for n in (1, 2, 3)))
    second = bytearray(_gzip_member(b"".join(line(entity(n)) for n in (4, 5, 6))))
    # The first deflate block header of the second member (after its 10-byte gzip header):
    # BFINAL=1 and the reserved block type 11, which no decoder accepts.
    second[10] = 0x07
    return first + bytes(second)


def _truncated_after_three_lines() -> bytes:
    first = _gzip_member(b"".join(line(entity(n)) for n in (1, 2, 3)))
    # One line of 100,000 bytes without its end: half of its member is cut off.
    second = _gzip_member(line(learner(4, presentation="".join(f"{n:06d}" for n in range(16_000)))))
    return first + second[: len(second) // 2]


def _bomb() -> bytes:
    """64 MiB of zeros in about 64 KB: far past any compression ratio JSONL reaches."""
    return gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9, mtime=0)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("day.jsonl", line(entity(1)))
    return buffer.getvalue()


def _item_over_the_limit() -> HostileFile:
    presentation = "x" * 450_000
    # DynamoDB's item size (docs/limits.md): each attribute's name plus its value, the key
    # attributes included. pk "T#acme#learner#7" (16 bytes), sk "R"; learnerId 7 is one digit,
    # which DynamoDB stores in 2 bytes.
    size = (
        (4 + len("learner"))  # type
        + (8 + len("acme"))  # tenantId
        + (9 + 2)  # learnerId
        + (12 + len(presentation))  # presentation
        + (2 + 16)  # pk
        + (2 + 1)  # sk
    )
    return HostileFile(
        body=line(entity(1)) + line(learner(7, presentation=presentation)) + line(entity(2)),
        outcome="ingest-rejected",
        written={"entity": 2},
        rejected=[
            (
                2,
                "learner",
                "presentation",
                f"makes the item {size} bytes; DynamoDB stores at most {ITEM_LIMIT} bytes (400 KB) an item",
            )
        ],
    )


def _numbers() -> HostileFile:
    def log(log_id: int, tracking_id: int, started_at: str, **fields: Any) -> str:
        record = {**Records.log(TENANT, log_id, started_at, 60), "trackingId": tracking_id}
        for name in fields:
            del record[name]
        text = json.dumps(record, separators=(",", ":"))[:-1]
        return text + "".join(f',"{k}":{v}' for k, v in fields.items()) + "}"

    tracking_502 = {**Records.catalogue(TENANT)[-1], "trackingId": 502, "guid": "trk-0502"}
    return HostileFile(
        body=b"".join(
            [
                line(Records.log(TENANT, 9001, "2020-02-10T09:30:00Z", 180)),
                # The only log of tracking 502, on a day of its own: refused.
                raw_line(log(9100, 502, "2020-03-01T10:00:00Z", score="1e200")),
                raw_line(log(9101, 503, "2020-03-02T10:00:00Z", score="1e-200")),
                raw_line(
                    log(9102, 501, "2020-02-10T11:00:00Z", score="1.0000000000000000000000000000000000000001")
                ),
                # DynamoDB's bounds themselves are stored.
                raw_line(
                    log(
                        9103,
                        501,
                        "2020-02-10T12:00:00Z",
                        score="9.9999999999999999999999999999999999999E+125",
                    )
                ),
                raw_line(log(9104, 501, "2020-02-10T13:00:00Z", score="-1E-130")),
                # Trailing zeros are not significant digits: 1 followed by 40 zeros fits.
                raw_line(log(9105, 501, "2020-02-10T14:00:00Z", score="1" + "0" * 40)),
                line(tracking_502),
            ]
        ),
        outcome="ingest-rejected",
        written={"trackingLog": 4, "tracking": 1},
        rejected=[
            (
                2,
                "trackingLog",
                "score",
                f"{NUMBER}: its magnitude is above 9.9999999999999999999999999999999999999E+125",
            ),
            (3, "trackingLog", "score", f"{NUMBER}: its magnitude is below 1E-130"),
            (4, "trackingLog", "score", f"{NUMBER}: it has more than 38 significant digits"),
        ],
        # No marker for 2020-03-01 or 2020-03-02: their only logs were refused.
        days={"2020-02-10": 4},
    )


def _nesting() -> HostileFile:
    deep = "[" * 100_000 + "]" * 100_000
    return HostileFile(
        body=line(learner(1, customFields=nested(32)))
        + line(learner(2, customFields=nested(33)))
        + raw_line(f'{{"type":"learner","tenantId":"acme","learnerId":3,"customFields":{deep}}}'),
        outcome="ingest-rejected",
        written={"learner": 1},
        rejected=[(2, "learner", "customFields", NESTED), (3, None, None, NESTED)],
    )


def _text() -> HostileFile:
    return HostileFile(
        body=raw_line('{"type":"learner","tenantId":"acme","learnerId":1,"name":"\\ud800"}')
        + raw_line('{"type":"learner","tenantId":"acme","learnerId":2,"customFields":{"\\udfff":1}}')
        + line(learner(3, name="Ç€😀"))
        + b'{"type":"learner","tenantId":"acme","learnerId":4,"name":"\xff"}\n'
        + raw_line('{"type":"learner","tenantId":"acme","learnerId":' + "9" * 5000 + "}"),
        outcome="ingest-rejected",
        written={"learner": 1},
        rejected=[
            (1, "learner", "name", SURROGATE),
            (2, "learner", "customFields", SURROGATE),
            (4, None, None, "is not UTF-8"),
            (5, None, None, "is not JSON this service reads (an integer of more than 4300 digits)"),
        ],
    )


def _many_bad_lines() -> HostileFile:
    return HostileFile(
        body=b"{}\n" * 10_000 + line(entity(1)),
        outcome="ingest-rejected",
        written={"entity": 1},
        rejected=[(n, None, "type", f"must be one of {TYPES}") for n in range(1, 101)],
        rejected_count=10_000,
    )


def _long_line() -> bytes:
    # Text that does not compress much (2 MB of one letter would trip the gzip ratio cap).
    text = "".join(hashlib.sha256(str(n).encode()).hexdigest() for n in range(31_250))
    return line(entity(1)) + line(learner(7, presentation=text)) + line(entity(2))


LONG = f"is longer than the {LINE_LIMIT}-byte limit (setting INGEST_MAX_LINE_BYTES)"
LOADED_BEFORE = "the lines before it were loaded"

# name under incoming/ -> the file and its outcome
FILES: dict[str, HostileFile] = {
    # -- lines that cannot be stored: rejected one by one, the rest stored --------------------
    "item-over-400-kb.jsonl": _item_over_the_limit(),
    "numbers-out-of-range.jsonl": _numbers(),
    "nested-too-deep.jsonl": _nesting(),
    "text-not-unicode.jsonl": _text(),
    "ten-thousand-empty-objects.jsonl": _many_bad_lines(),
    "long-line.jsonl": HostileFile(_long_line(), "ingest-rejected", {"entity": 2}, [(2, None, None, LONG)]),
    "long-line.jsonl.gz": HostileFile(
        gzip.compress(_long_line(), mtime=0), "ingest-rejected", {"entity": 2}, [(2, None, None, LONG)]
    ),
    "empty.jsonl": HostileFile(b"", "ingested"),
    "byte-order-mark.jsonl": HostileFile(b"\xef\xbb\xbf" + line(entity(1)), "ingested", {"entity": 1}),
    "gzip-under-a-plain-name.jsonl": HostileFile(
        gzip.compress(line(entity(1)) + line(entity(2)), mtime=0), "ingested", {"entity": 2}
    ),
    # -- files that cannot be decoded: refused as a whole (good lines before the damage kept) -
    "not-gzip.jsonl.gz": HostileFile(
        line(entity(1)),
        "ingest-rejected",
        reason=(
            "the key ends in .gz (or the object's Content-Encoding is gzip) but its content is not gzip data"
        ),
    ),
    "corrupt.jsonl.gz": HostileFile(
        _corrupt_after_three_lines(),
        "ingest-rejected",
        {"entity": 3},
        reason="the gzip data is corrupt (invalid block type) after line 3",
    ),
    "truncated.jsonl.gz": HostileFile(
        _truncated_after_three_lines(),
        "ingest-rejected",
        {"entity": 3},
        reason="the gzip data ends before its end (a truncated upload?) after line 3",
    ),
    "bomb.jsonl.gz": HostileFile(
        _bomb(),
        "ingest-rejected",
        reason="the gzip data expands more than 200 times (setting INGEST_MAX_COMPRESSION_RATIO)",
    ),
    "utf-16.jsonl": HostileFile(
        "\ufeff".encode("utf-16-le") + json.dumps(entity(1)).encode("utf-16-le"),
        "ingest-rejected",
        reason="the file is UTF-16 text; tracking files are UTF-8",
    ),
    "archive.zip": HostileFile(
        _zip(),
        "ingest-rejected",
        reason="the file is a zip archive; tracking files are JSONL, plain or gzip-compressed",
    ),
}
