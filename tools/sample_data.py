"""A deterministic sample tenant: catalogue and tracking logs in the JSONL record format.

Used by the local run, the benchmarks and the tests. The catalogue has a fixed size
(a tenant's learners and trainings do not grow with the export window); logs are
spread over days at ``logs_per_day``, so a longer window means more days, not
bigger days — as for a real tenant.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

STATUSES = ("completed", "incomplete", "notAttempted", "pendingFeedback")
MODALITIES = ("learning_channel", "guided", "blended")


@dataclass(frozen=True)
class SampleShape:
    tenant_id: str = "acme"
    learners: int = 2_000
    trainings: int = 20
    sessions_per_training: int = 3
    contents: int = 200
    trackings: int = 20_000
    logs: int = 50_000
    logs_per_day: int = 2_000
    last_day: date = date(2026, 11, 27)
    unlaunched_every: int = 50  # one tracking in this many never gets a log
    seed: int = 7


def _guid(kind: str, n: int) -> str:
    return f"{kind}-{n:08d}-0000-4000-8000-{n:012d}"


def catalogue(shape: SampleShape) -> Iterator[dict[str, Any]]:
    """Entities, smart groups, learners, trainings, sessions, contents, training contents, trackings."""
    t = shape.tenant_id
    rng = random.Random(shape.seed)
    yield {"type": "entity", "tenantId": t, "entityId": 1, "name": "All users", "parentId": None}
    for e in range(2, 12):
        yield {"type": "entity", "tenantId": t, "entityId": e, "name": f"Entity {e - 1:02d}", "parentId": 1}
    for e in range(12, 32):
        parent = 2 + (e - 12) % 10
        yield {"type": "entity", "tenantId": t, "entityId": e, "name": f"Team {e}", "parentId": parent}
    for g in range(1, 6):
        yield {"type": "smartgroup", "tenantId": t, "smartgroupId": g, "name": f"Group {chr(64 + g)}"}
    for n in range(1, shape.learners + 1):
        yield {
            "type": "learner",
            "tenantId": t,
            "learnerId": n,
            "guid": _guid("lrn", n),
            "name": f"Name{n}",
            "firstname": f"First{n}",
            "login": f"user{n}",
            "email": f"user{n}@example.com",
            "refNumber": f"EMP{n:06d}",
            "timezone": "Europe/Paris",
            "entityId": 12 + n % 20,
            "smartgroupIds": sorted({1 + n % 5, 1 + n % 3}),
            "customFields": {"cf-department": f"Dept {n % 7}"},
            "presentation": None,
        }
    for tr in range(1, shape.trainings + 1):
        yield {
            "type": "training",
            "tenantId": t,
            "trainingId": tr,
            "guid": _guid("trn", tr),
            "title": f"Training {tr}",
            "pathCode": f"TR{tr:03d}",
            "modality": MODALITIES[tr % len(MODALITIES)],
            "status": "PCA"[tr % 3],
            "publisher": f"Publisher {tr % 4}",
            "catalogVisible": tr % 2 == 0,
            "imported": tr % 5 == 0,
        }
        for s in range(shape.sessions_per_training):
            sid = tr * 100 + s
            yield {
                "type": "session",
                "tenantId": t,
                "sessionId": sid,
                "guid": _guid("ses", sid),
                "title": f"Session {s + 1:02d}",
                "trainingId": tr,
                "startDate": "2026-01-01",
                "endDate": "2026-12-31",
                "imported": s == 0,
                "hrisSelected": s != 2,
            }
    for c in range(1, shape.contents + 1):
        yield {
            "type": "content",
            "tenantId": t,
            "contentGuid": _guid("cnt", c),
            "learningObjectGuid": _guid("lo", c),
            "title": f'Content {c}; part "{c % 3}"',
            "refNumber": f"C{c:05d}",
            "locale": ("en-US", "fr-FR", "de-DE")[c % 3],
            "publisherGuid": _guid("pub", c % 4),
            "publisherName": f"Publisher {c % 4}",
            "hrisSelected": c % 4 != 0,
        }
        for tr in range(1 + c % 3, shape.trainings + 1, 3):
            yield {
                "type": "trainingContent",
                "tenantId": t,
                "trainingId": tr,
                "learningObjectGuid": _guid("lo", c),
                "folder": f"Module {c % 5}",
                "mandatory": c % 2 == 0,
            }
    for k in range(1, shape.trackings + 1):
        training = 1 + k % shape.trainings
        yield {
            "type": "tracking",
            "tenantId": t,
            "trackingId": k,
            "guid": _guid("trk", k),
            "learnerId": 1 + rng.randrange(shape.learners),
            "sessionId": training * 100 + k % shape.sessions_per_training,
            "contentGuid": _guid("cnt", 1 + k % shape.contents),
            "registrationGuid": _guid("reg", k),
            "registrationImported": k % 3 == 0,
            "updatedAt": "2026-01-01T00:00:00Z",
        }


def logs(shape: SampleShape, count: int | None = None, first_log_id: int = 1) -> Iterator[dict[str, Any]]:
    """``count`` logs (default ``shape.logs``) ending on ``shape.last_day``, ``logs_per_day`` a day."""
    total = shape.logs if count is None else count
    rng = random.Random(shape.seed + 1)
    days = max(1, -(-total // shape.logs_per_day))
    first_day = shape.last_day - timedelta(days=days - 1)
    launched = [k for k in range(1, shape.trackings + 1) if k % shape.unlaunched_every != 0]
    for i in range(total):
        day = first_day + timedelta(days=i // shape.logs_per_day)
        started = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(86_400)
        )
        spent = rng.randrange(30, 3_600)
        status = STATUSES[rng.randrange(4)]
        progression = 100 if status == "completed" else rng.choice((0, 25, 37.5, 50, 80))
        last_access = started + timedelta(seconds=spent)
        yield {
            "type": "trackingLog",
            "tenantId": shape.tenant_id,
            "trackingId": launched[rng.randrange(len(launched))],
            "logId": first_log_id + i,
            "startedAt": _iso(started),
            "lastAccessAt": _iso(last_access),
            "completedAt": _iso(last_access) if status == "completed" else None,
            "progression": progression,
            "score": rng.choice((None, 4, 12.5, 80)),
            "status": status,
            "timeSpentSeconds": spent,
            "updatedAt": _iso(last_access),
        }


def _iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def dataset(shape: SampleShape) -> Iterator[dict[str, Any]]:
    """The whole sample tenant: catalogue then logs."""
    yield from catalogue(shape)
    yield from logs(shape)


def write_jsonl(records: Iterator[dict[str, Any]], path: Path) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    """``python -m tools.sample_data OUT.jsonl [--logs N] [--tenant ID]``."""
    import argparse

    parser = argparse.ArgumentParser(description="Write the sample tenant as a JSONL dataset.")
    parser.add_argument("output", type=Path)
    parser.add_argument("--logs", type=int, default=SampleShape.logs)
    parser.add_argument("--tenant", default=SampleShape.tenant_id)
    args = parser.parse_args(argv)
    shape = SampleShape(tenant_id=args.tenant, logs=args.logs)
    count = write_jsonl(dataset(shape), args.output)
    print(f"{args.output}: {count:,} records ({args.logs:,} logs) of tenant {args.tenant!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
