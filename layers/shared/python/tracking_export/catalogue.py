"""Resolves a tracking to everything its rows print: learner, session, training, content…

Lookups are batched: the records a batch of trackings needs are fetched level by level
(trackings; their learners, sessions and contents; then trainings, smart groups, entities
and training contents), each level in one ``get_records`` call, which a source may serve in
shared requests. Valid records are kept in a :class:`~tracking_export.bounded.BoundedCache`
(fetched again once dropped), so memory does not grow with the catalogue a run touches. An
invalid or missing record is kept for the whole run and reported once, at its root cause,
and every tracking that depends on it is skipped with a reason naming that cause.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from tracking_export.bounded import BoundedCache, size_of
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


# A named tuple rather than a frozen dataclass: one is made per tracking a run resolves, and
# a frozen dataclass's __init__ (one object.__setattr__ per field) costs about twice as much.
class TrackingContext(NamedTuple):
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


# What a learner's trackings share: (learner, its entity, entity chain, smart-group names).
_LearnerExtras = tuple[Learner, Entity | None, tuple[Entity, ...], tuple[str, ...]]
_Key = tuple[str, Any]  # (kind, key): "learner", 12 / "trainingContent", (3, "lo-guid") …


class _Missing:
    """A lookup that failed; ``reason`` says why, ``reported`` whether a record was
    already listed for it (an invalid record is; an absent one is not — the record pointing
    at it gets listed instead)."""

    __slots__ = ("reason", "reported")

    def __init__(self, reason: str, *, reported: bool) -> None:
        self.reason = reason
        self.reported = reported


class Catalogue:
    """Batched catalogue lookups for one run, within ``capacity`` bytes of valid records."""

    def __init__(self, source: TrackingSource, report: RunReport, capacity: int) -> None:
        self._source = source
        self._report = report
        # Valid records by (kind, key), and each learner's extras under ("learnerExtras", id).
        self._records: BoundedCache[_Key, Any] = BoundedCache(capacity, size_of)
        # What failed, by kind then key, for the whole run: each is reported once. Their number
        # is that of the bad records a run meets, not of the catalogue. Kind "context": a
        # tracking that cannot be used.
        self._failed: dict[str, dict[Any, _Missing]] = {kind: {} for kind in (*PARSERS, "context")}
        # What the call in progress resolved, by kind then key, whatever the cache drops meanwhile.
        self._here: dict[str, dict[Any, Any]] = {}
        # Tracking records fetched ahead (prefetch), each used once: tracking id -> record or None.
        self._prefetched: dict[int, dict[str, Any] | None] = {}

    def prefetch(self, tracking_ids: Iterable[int]) -> None:
        """Fetch the records of these trackings now, in one batch, for the :meth:`contexts`
        calls to come (what was fetched ahead before and not used is dropped). Nothing is
        parsed or reported here: that happens, in order, when a context is asked for."""
        failed = self._failed["context"]
        wanted = [t for t in tracking_ids if t not in failed]
        found = self._fetch({"tracking": wanted}).get("tracking", {})
        self._prefetched = {t: found.get(t) for t in wanted}

    # -- loading ---------------------------------------------------------

    def _wanted(self, kind: str, keys: Iterable[Any]) -> list[Any]:
        """The keys of ``kind`` to fetch; those known already (cached or failed) join the call's records."""
        here, failed, cached = self._here[kind], self._failed[kind], self._records.get
        wanted = []
        for key in set(keys):
            if key in here:
                continue
            known = failed.get(key) or cached((kind, key))
            if known is None:
                wanted.append(key)
            else:
                here[key] = known
        return wanted

    def _fetch(self, wanted: Mapping[str, list[Any]]) -> dict[str, dict[Any, dict[str, Any]]]:
        asked = {kind: keys for kind, keys in wanted.items() if keys}
        return self._source.get_records(asked) if asked else {}

    def _take(self, kind: str, wanted: list[Any], found: Mapping[Any, dict[str, Any]]) -> None:
        """Parse what was fetched of ``kind``; report the invalid, remember the failures."""
        parse: Callable[[dict[str, Any]], Any] = PARSERS[kind]
        here, failed = self._here[kind], self._failed[kind]
        put = None if kind == "tracking" else self._records.put  # a tracking goes into its context
        for key in wanted:
            raw = found.get(key)
            if raw is None:
                here[key] = failed[key] = _Missing(f"{kind} {_show(key)} does not exist", reported=False)
                continue
            try:
                record = here[key] = parse(raw)
            except InvalidRecord as exc:
                reason = f"{kind} {_show(key)} is invalid: {exc}"
                self._report.skip(SkippedRecord(kind, safe_key(key), str(exc)))
                here[key] = failed[key] = _Missing(reason, reported=True)
                continue
            if put is not None:
                put((kind, key), record)

    def contexts(
        self, tracking_ids: Iterable[int], raw_trackings: Mapping[int, dict[str, Any]] | None = None
    ) -> dict[int, TrackingContext | str]:
        """The context of each of these trackings, or the reason it cannot be used, fetching
        what is not cached level by level. ``raw_trackings``: their records, already read."""
        self._here = {kind: {} for kind in (*PARSERS, "learnerExtras")}
        try:
            return self._contexts(tracking_ids, raw_trackings)
        finally:
            self._here = {}

    def _contexts(
        self, tracking_ids: Iterable[int], raw_trackings: Mapping[int, dict[str, Any]] | None
    ) -> dict[int, TrackingContext | str]:
        failed = self._failed["context"]
        here = self._here
        todo = list(dict.fromkeys(tracking_ids))  # in the order given, as the reports are
        fresh = [t for t in todo if t not in failed]
        wanted = self._wanted("tracking", fresh)
        if raw_trackings is None:
            prefetched, raw_trackings, rest = self._prefetched, {}, []
            for key in wanted:
                if key in prefetched:
                    raw = prefetched.pop(key)
                    if raw is not None:
                        raw_trackings[key] = raw
                else:
                    rest.append(key)
            if rest:
                raw_trackings.update(self._fetch({"tracking": rest}).get("tracking", {}))
        self._take("tracking", wanted, raw_trackings)
        here_tracking = here["tracking"]
        trackings = [t for t in (here_tracking.get(i) for i in fresh) if isinstance(t, Tracking)]

        # Their learners, sessions and contents, in one call.
        level = {
            "learner": self._wanted("learner", [t.learner_id for t in trackings]),
            "session": self._wanted("session", [t.session_id for t in trackings]),
            "content": self._wanted("content", [t.content_guid for t in trackings]),
        }
        found_level = self._fetch(level)
        for kind, keys in level.items():
            self._take(kind, keys, found_level.get(kind, {}))

        # Then trainings, smart groups, entities and training contents, in one call; parents
        # of entities level by level after, and training contents parsed last, as before.
        here_learner, here_session, here_content = here["learner"], here["session"], here["content"]
        sessions = [s for s in (here_session.get(t.session_id) for t in trackings) if isinstance(s, Session)]
        learners = [x for x in (here_learner.get(t.learner_id) for t in trackings) if isinstance(x, Learner)]
        pairs = []
        for t in trackings:
            session = here_session.get(t.session_id)
            content = here_content.get(t.content_guid)
            if isinstance(session, Session) and isinstance(content, Content) and content.learning_object_guid:
                pairs.append((session.training_id, content.learning_object_guid))
        entities = {x.entity_id for x in learners if x.entity_id is not None}
        level = {
            "training": self._wanted("training", [s.training_id for s in sessions]),
            "smartgroup": self._wanted("smartgroup", [g for x in learners for g in x.smartgroup_ids]),
            "entity": self._wanted("entity", entities),
            "trainingContent": self._wanted("trainingContent", pairs),
        }
        found_level = self._fetch(level)
        self._take("training", level["training"], found_level.get("training", {}))
        self._take("smartgroup", level["smartgroup"], found_level.get("smartgroup", {}))
        self._take("entity", level["entity"], found_level.get("entity", {}))
        self._load_parents(entities)
        self._take("trainingContent", level["trainingContent"], found_level.get("trainingContent", {}))

        contexts: dict[int, TrackingContext | str] = {}
        build = self._build
        for tracking_id in todo:
            found_context = failed.get(tracking_id) or build(tracking_id)
            if isinstance(found_context, _Missing):
                failed[tracking_id] = found_context
                contexts[tracking_id] = found_context.reason
            else:
                contexts[tracking_id] = found_context
        return contexts

    def _load_parents(self, entity_ids: set[int]) -> None:
        """The ancestors of these entities (already resolved), one level at a time: the cached
        ones are walked through (their parents may have been dropped), the others fetched."""
        here = self._here["entity"]
        level, seen = entity_ids, set(entity_ids)
        for _ in range(MAX_ENTITY_DEPTH):
            level = {
                e.parent_id
                for e in (here.get(i) for i in level)
                if isinstance(e, Entity) and e.parent_id is not None and e.parent_id not in seen
            }
            if not level:
                return
            seen |= level
            wanted = self._wanted("entity", level)
            if wanted:
                self._take("entity", wanted, self._fetch({"entity": wanted}).get("entity", {}))

    # -- contexts ----------------------------------------------------------

    def _build(self, tracking_id: int) -> TrackingContext | _Missing:
        here = self._here
        tracking = here["tracking"][tracking_id]
        if tracking.__class__ is _Missing:
            return tracking
        learner = here["learner"][tracking.learner_id]
        session = here["session"][tracking.session_id]
        content = here["content"][tracking.content_guid]
        if session.__class__ is Session:
            training = here["training"][session.training_id]
            if training.__class__ is _Missing:
                session = self._session_without_training(session, training)
        for dependency in (learner, session, content):
            if dependency.__class__ is _Missing:
                # An invalid record was listed when it was parsed; a record pointing at one that
                # does not exist is itself the invalid one (data-contract.md).
                if not dependency.reported:
                    self._report.skip(SkippedRecord("tracking", tracking_id, dependency.reason))
                return _Missing(f"tracking {tracking_id} is skipped: {dependency.reason}", reported=True)
        training = here["training"][session.training_id]
        training_content = None
        if content.learning_object_guid:
            found = here["trainingContent"].get((session.training_id, content.learning_object_guid))
            training_content = found if found.__class__ is TrainingContent else None
        _, entity, chain, names = self._learner_extras(learner)
        return TrackingContext(
            tracking, learner, session, training, content, training_content, entity, chain, names
        )

    def _learner_extras(self, learner: Learner) -> _LearnerExtras:
        """Entity chain and smart-group names of a learner, computed once per learner record."""
        here = self._here["learnerExtras"]
        key = learner.learner_id
        extras: _LearnerExtras | None = here.get(key) or self._records.get(("learnerExtras", key))
        if extras is None or extras[0] is not learner:
            chain = self._entity_chain(learner.entity_id)
            smartgroups = self._here["smartgroup"]
            groups = (smartgroups.get(g) for g in learner.smartgroup_ids)
            names = tuple(sorted(g.name or "" for g in groups if isinstance(g, Smartgroup)))
            entity = chain[-1] if chain and chain[-1].entity_id == learner.entity_id else None
            extras = (learner, entity, chain, names)
            self._records.put(("learnerExtras", key), extras)
        here[key] = extras
        return extras

    def _session_without_training(self, session: Session, training: _Missing) -> _Missing:
        """A session whose training is missing is invalid: reported once, then kept as such."""
        if not training.reported:
            self._report.skip(SkippedRecord("session", session.session_id, training.reason))
        missing = _Missing(f"session {session.session_id} is skipped: {training.reason}", reported=True)
        self._here["session"][session.session_id] = self._failed["session"][session.session_id] = missing
        return missing

    def _entity_chain(self, entity_id: int | None) -> tuple[Entity, ...]:
        entities = self._here["entity"]
        chain: list[Entity] = []
        seen: set[int] = set()
        current = entity_id
        while current is not None and current not in seen and len(chain) < MAX_ENTITY_DEPTH:
            seen.add(current)
            entity = entities.get(current)
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
