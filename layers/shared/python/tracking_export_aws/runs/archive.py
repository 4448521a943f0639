"""``<archive>`` (spec §4): after a successful run, the export's older files leave its folder for
``{folder}/archive/``, so the folder holds only the newest (docs/decisions.md, "Files in the
export bucket").

Which objects move: the objects directly in the folder of the run's file (never those of a
sub-folder, ``archive/`` included) whose ``export-run`` metadata names an earlier run of this
export: same tenant, same export guid, a run time (scheduled time or runAt) strictly before
this run's. That covers the export files and the end files its earlier runs wrote — an end
file follows its export — and nothing else: another export's files sharing the folder, and
objects no run of this export wrote, stay. A file of a *later* run time (a replay of an
earlier day finishing after it) stays too: the folder keeps the newest.

Where they go: ``archive/{name}``; when that key holds another object (a fixed ``fileName``
archived every day), ``archive/{stem}-{run time UTC}{ext}``, then ``…-2`` … ``…-9``; an object
is never replaced (S3 ``If-None-Match``). When every name is taken, the file stays in the
folder and counts as an archive failure. The copy carries the ``clean-older-than`` tag of
the export's ``cleanFolder``, with the days its original had left, so archiving neither
shortens nor extends a file's life by more than the rounding of the lifecycle rules.

The step never fails the run: the file is delivered. Whatever could not move is logged and
counted (``ArchiveFailures``, through ``on_failures``) and is found again by the export's
next successful run (a crash between a copy and its delete included: the copy is
recognised, the delete is done).
"""

from __future__ import annotations

import logging
import math
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tracking_export_aws.aws import keys
from tracking_export_aws.aws.object_tags import CLEAN_OLDER_THAN_TAG_KEY, clean_older_than_tag
from tracking_export_aws.aws.s3_archive import ObjectHead, child_keys, head, move_object
from tracking_export_aws.runs.plan import RunPlan, RunStart

ARCHIVE_FOLDER = "archive"
# The names an archived object may take: its own, then with its run time, then numbered.
MAX_ARCHIVE_NAMES = 10

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchiveReport:
    """What one archive step did: the objects it moved (from, to) and those it could not move."""

    moved: tuple[tuple[str, str], ...] = ()
    failed: tuple[str, ...] = ()


def archive_older_files(
    s3: Any,
    bucket: str,
    plan: RunPlan,
    kept: tuple[str, ...],
    now: datetime,
    on_failures: Callable[[int], None] | None = None,
) -> ArchiveReport:
    """Move the export's older files out of the folder of ``plan``'s file when its definition
    asks for ``<archive>``; ``kept`` are this run's own objects (its file, its end file). Never
    raises: a failure is logged and told to ``on_failures`` (how many objects could not move;
    the functions count ``ArchiveFailures``), and the next successful run retries."""
    try:
        if not plan.archive:
            return ArchiveReport()
        report = _archive(s3, bucket, plan, kept, now)
    except Exception as exc:
        _log.warning("archiving the older files of run %s failed: %r", plan.run_id, exc)
        report = ArchiveReport(failed=(posixpath.dirname(plan.object_key) + "/",))
    if report.failed and on_failures is not None:
        on_failures(len(report.failed))
    return report


def _archive(s3: Any, bucket: str, plan: RunPlan, kept: tuple[str, ...], now: datetime) -> ArchiveReport:
    folder = posixpath.dirname(plan.object_key)
    this_run = keys.instant_key(plan.scheduled_time)
    moved: list[tuple[str, str]] = []
    failed: list[str] = []
    for key in child_keys(s3, bucket, f"{folder}/"):
        if key in kept:
            continue
        try:
            source = head(s3, bucket, key)
            run_time = _older_run_time(source, plan.tenant_id, plan.export_guid, this_run)
            if source is None or run_time is None:
                continue
            name = posixpath.basename(key)
            candidates = [f"{folder}/{ARCHIVE_FOLDER}/{n}" for n in archive_names(name, run_time)]
            tags = archive_tags(plan.tags, source, now)
            target = move_object(s3, bucket, source, candidates, tags=tags)
        except Exception as exc:
            _log.warning("archiving %s (run %s) failed: %r", key, plan.run_id, exc)
            failed.append(key)
            continue
        if target is None:
            _log.warning(
                "archiving %s: every name under %s/%s/ is taken; it stays", key, folder, ARCHIVE_FOLDER
            )
            failed.append(key)
        else:
            moved.append((key, target))
    if moved:
        _log.info("run %s archived %d older file(s): %s", plan.run_id, len(moved), moved)
    return ArchiveReport(moved=tuple(moved), failed=tuple(failed))


def _older_run_time(source: ObjectHead | None, tenant_id: str, export_guid: str, this_run: str) -> str | None:
    """The run time (instant key) of the earlier run of the export that wrote ``source``;
    None for an object of another export, of no run, or of this run or a later one."""
    if source is None or source.run_id is None:
        return None
    # A replay's objects name their run ``…/{time}/replay/{id}``: archived by the time they replay.
    run, _, _replay = source.run_id.partition("/replay/")
    export, _, run_time = run.rpartition("/")
    if export != f"{tenant_id}/{export_guid}" or not run_time < this_run:
        return None
    return run_time


def make_room(s3: Any, bucket: str, key: str, start: RunStart, run_tags: dict[str, str]) -> None:
    """``<archive>`` with a name every run asks for (a fixed ``fileName``, an end file without a
    date token): the object an earlier run of this export left at ``key`` goes to archive/ before
    this run's names are chosen, so the run's file takes the name the definition asks for and the
    folder's file keeps its name run after run. Never raises: an object that stays (anyone
    else's, a later run's, a move that failed) leaves the collision rule to choose another name;
    the run's own archive step moves it after the run, as any older file."""
    try:
        source = head(s3, bucket, key)
        this_run = keys.instant_key(start.scheduled_time)
        run_time = _older_run_time(source, start.tenant_id, start.export_guid, this_run)
        if source is None or run_time is None:
            return
        folder = posixpath.dirname(key)
        candidates = [
            f"{folder}/{ARCHIVE_FOLDER}/{n}" for n in archive_names(posixpath.basename(key), run_time)
        ]
        tags = archive_tags(run_tags, source, start.claimed_at)
        if move_object(s3, bucket, source, candidates, tags=tags) is None:
            _log.warning(
                "archiving %s: every name under %s/%s/ is taken; it stays", key, folder, ARCHIVE_FOLDER
            )
    except Exception as exc:
        _log.warning("archiving %s before run %s failed: %r", key, start.run_id, exc)


def archive_names(name: str, run_time: str) -> list[str]:
    """The names an object of the run at ``run_time`` (an instant key) may take in archive/, in
    order: ``name``, ``{stem}-{YYYYmmddTHHMMSSZ}{ext}``, then that numbered 2 … 9."""
    stem, ext = split_extension(name)
    stamp = keys.parse_instant_key(run_time).strftime("%Y%m%dT%H%M%SZ")
    return [
        name,
        f"{stem}-{stamp}{ext}",
        *(f"{stem}-{stamp}-{n}{ext}" for n in range(2, MAX_ARCHIVE_NAMES)),
    ]


def split_extension(name: str) -> tuple[str, str]:
    """``("x", ".csv.gz")`` for ``x.csv.gz``: a compressed file's two extensions stay together."""
    stem, ext = posixpath.splitext(name)
    if ext == ".gz":
        inner_stem, inner = posixpath.splitext(stem)
        if inner:
            return inner_stem, inner + ext
    return stem, ext


def archive_tags(run_tags: dict[str, str], source: ObjectHead, now: datetime) -> dict[str, str]:
    """The archived copy's tags: the archiving run's (tenant, export), and ``clean-older-than``
    of its ``cleanFolder`` with the days the original had left (S3 counts a lifecycle rule's
    days from the copy's creation). At least one day; the rules' rounding up means a file is
    never deleted earlier than ``cleanOlderThan`` asks."""
    tags = {k: v for k, v in run_tags.items() if k != CLEAN_OLDER_THAN_TAG_KEY}
    days = run_tags.get(CLEAN_OLDER_THAN_TAG_KEY)
    if days is not None:
        age_days = math.floor(max(0.0, (now - source.last_modified).total_seconds()) / 86400)
        tags.update(clean_older_than_tag(max(1, int(days) - age_days)))
    return tags
