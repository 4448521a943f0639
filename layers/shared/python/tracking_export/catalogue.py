"""Resolves a tracking to everything its rows print: learner, session, training, content…

Lookups are batched (one ``get_many`` per kind per batch of trackings) and cached
for the run. An invalid or missing record is reported once, at its root cause, and
every tracking that depends on it is skipped with a reason naming that cause.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tracking_export.records import (
    PARSERS,
    Content,
    Entity,
    InvalidRecord,
    Learner,
    Session,
    Smartgroup,
    Tracking,
    Training,
    TrainingContent,
    safe_key,
)
from tracking_export.report import RunReport, SkippedRecord
from tracking_export.source import TrackingSource

# Entity hierarchies deeper than this are treated as cyclic data.
MAX_ENTITY_DEPTH = 64


@dataclass(frozen=True, slots=True)
class TrackingContext:
    """A valid tracking and the catalogue records its rows print."""

    tracking: Tracking
    learner: Learner
    session: Session
    training: Training
    content: Content
    training_content: TrainingContent | None
    entity: Entity | None
    entity_chain: tuple[Entity, ...]  # from the root down to the learner's own entity
    smartgroup_names: tuple[str, ...]  # sorted by name

    @property
    def sort_key(self) -> tuple[int, int, str]:
        return (self.learner.learner_id, self.session.session_id, self.content.content_guid)


# What a learner's trackings share: (learner, its entity, entity chain, smart-group names).
_LearnerExtras = tuple[Learner, Entity | None, tuple[Entity, ...], tuple[str, ...]]


class _Missing:
    """A cached lookup that failed; ``reason`` says why, ``reported`` whether a record was
    already listed for it (an invalid record is; an absent one is not — the record pointing
    at it gets listed instead)."""

    __slots__ = ("reason", "reported")

    def __init__(self, reason: str, *, reported: bool) -> None:
        self.reason = reason
        self.reported = reported


class Catalogue:
    """Batched, cached catalogue lookups for one run."""

    def __init__(self, source: TrackingSource, report: RunReport) -> None:
        self._source = source
        self._report = report
        self._records: dict[str, dict[Any, Any]] = {kind: {} for kind in PARSERS}
        self._contexts: dict[int, TrackingContext | _Missing] = {}
        self._learner_extras: dict[int, _LearnerExtras] = {}

    # -- loading ---------------------------------------------------------

    def _load(self, kind: str, keys: Iterable[Any], raws: dict[Any, dict[str, Any]] | None = None) -> None:
        """Fetch and parse the records of ``kind`` not cached yet."""
        cache = self._records[kind]
        wanted = [k for k in set(keys) if k not in cache]
        if not wanted:
            return
        found = raws if raws is not None else self._source.get_many(kind, wanted)
        parse: Callable[[dict[str, Any]], Any] = PARSERS[kind]
        for key in wanted:
            raw = found.get(key)
            if raw is None:
                cache[key] = _Missing(f"{kind} {_show(key)} does not exist", reported=False)
                continue
            try:
                cache[key] = parse(raw)
            except InvalidRecord as exc:
                reason = f"{kind} {_show(key)} is invalid: {exc}"
                self._report.skip(SkippedRecord(kind, safe_key(key), str(exc)))
                cache[key] = _Missing(reason, reported=True)

    def _get(self, kind: str, key: Any) -> Any:
        return self._records[kind].get(key)

    def prepare(
        self, tracking_ids: Iterable[int], raw_trackings: dict[int, dict[str, Any]] | None = None
    ) -> None:
        """Resolve the contexts of these trackings, fetching what is missing in batches."""
        todo = [t for t in set(tracking_ids) if t not in self._contexts]
        if not todo:
            return
        self._load("tracking", todo, raw_trackings)
        trackings = [t for t in (self._get("tracking", i) for i in todo) if isinstance(t, Tracking)]
        self._load("learner", (t.learner_id for t in trackings))
        self._load("session", (t.session_id for t in trackings))
        self._load("content", (t.content_guid for t in trackings))
        sessions = [
            s for s in (self._get("session", t.session_id) for t in trackings) if isinstance(s, Session)
        ]
        self._load("training", (s.training_id for s in sessions))
        learners = [
            x for x in (self._get("learner", t.learner_id) for t in trackings) if isinstance(x, Learner)
        ]
        self._load("smartgroup", (g for x in learners for g in x.smartgroup_ids))
        self._load_entities(x.entity_id for x in learners if x.entity_id is not None)
        pairs = []
        for t in trackings:
            session = self._get("session", t.session_id)
            content = self._get("content", t.content_guid)
            if isinstance(session, Session) and isinstance(content, Content) and content.learning_object_guid:
                pairs.append((session.training_id, content.learning_object_guid))
        self._load("trainingContent", pairs)
        for tracking_id in todo:
            self._contexts[tracking_id] = self._build(tracking_id)

    def _load_entities(self, entity_ids: Iterable[int]) -> None:
        wanted = set(entity_ids)
        for _ in range(MAX_ENTITY_DEPTH):
            wanted -= self._records["entity"].keys()
            if not wanted:
                return
            self._load("entity", wanted)
            wanted = {
                e.parent_id
                for e in (self._get("entity", i) for i in wanted)
                if isinstance(e, Entity) and e.parent_id is not None
            }

    # -- contexts ----------------------------------------------------------

    def context(self, tracking_id: int) -> TrackingContext | str:
        """The tracking's context, or the reason it cannot be used. Call ``prepare`` first."""
        found = self._contexts.get(tracking_id)
        if found is None:
            self.prepare([tracking_id])
            found = self._contexts[tracking_id]
        return found.reason if isinstance(found, _Missing) else found

    def _build(self, tracking_id: int) -> TrackingContext | _Missing:
        tracking = self._get("tracking", tracking_id)
        if isinstance(tracking, _Missing):
            return tracking
        learner = self._get("learner", tracking.learner_id)
        session = self._get("session", tracking.session_id)
        content = self._get("content", tracking.content_guid)
        if isinstance(session, Session):
            training = self._get("training", session.training_id)
            if isinstance(training, _Missing):
                session = self._session_without_training(session, training)
        for dependency in (learner, session, content):
            if isinstance(dependency, _Missing):
                # An invalid record was listed when it was parsed; a record pointing at one that
                # does not exist is itself the invalid one (data-contract.md).
                if not dependency.reported:
                    self._report.skip(SkippedRecord("tracking", tracking_id, dependency.reason))
                return _Missing(f"tracking {tracking_id} is skipped: {dependency.reason}", reported=True)
        assert isinstance(learner, Learner) and isinstance(session, Session)
        assert isinstance(content, Content)
        training = self._get("training", session.training_id)
        assert isinstance(training, Training)
        training_content = None
        if content.learning_object_guid:
            found = self._get("trainingContent", (session.training_id, content.learning_object_guid))
            training_content = found if isinstance(found, TrainingContent) else None
        extras = self._learner_extras.get(learner.learner_id)
        if extras is None or extras[0] is not learner:
            chain = self._entity_chain(learner.entity_id)
            groups = (self._get("smartgroup", g) for g in learner.smartgroup_ids)
            names = tuple(sorted(g.name or "" for g in groups if isinstance(g, Smartgroup)))
            entity = chain[-1] if chain and chain[-1].entity_id == learner.entity_id else None
            extras = self._learner_extras[learner.learner_id] = (learner, entity, chain, names)
        _, entity, chain, names = extras
        return TrackingContext(
            tracking=tracking,
            learner=learner,
            session=session,
            training=training,
            content=content,
            training_content=training_content,
            entity=entity,
            entity_chain=chain,
            smartgroup_names=names,
        )

    def _session_without_training(self, session: Session, training: _Missing) -> _Missing:
        """A session whose training is missing is invalid: reported once, then cached as such."""
        if not training.reported:
            self._report.skip(SkippedRecord("session", session.session_id, training.reason))
        missing = _Missing(f"session {session.session_id} is skipped: {training.reason}", reported=True)
        self._records["session"][session.session_id] = missing
        return missing

    def _entity_chain(self, entity_id: int | None) -> tuple[Entity, ...]:
        chain: list[Entity] = []
        seen: set[int] = set()
        current = entity_id
        while current is not None and current not in seen and len(chain) < MAX_ENTITY_DEPTH:
            seen.add(current)
            entity = self._get("entity", current)
            if not isinstance(entity, Entity):
                break
            chain.append(entity)
            current = entity.parent_id
        return tuple(reversed(chain))


def _show(key: Any) -> str:
    """A record's key in a reason: ids only, never a data value (see records.safe_key)."""
    key = safe_key(key)
    if isinstance(key, tuple):
        return "/".join("(unreadable key)" if k is None else str(k) for k in key)
    return "(unreadable key)" if key is None else str(key)
