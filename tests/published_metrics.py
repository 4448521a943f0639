"""What the service's own code publishes in its metrics namespace (``TrackingExport``), read from
the source, so that an alarm or a dashboard widget cannot watch a metric nobody publishes.

A module publishes metrics when it calls Powertools (``add_metric``, ``single_metric``), the
outcome counter (``count_outcome``) or CloudWatch (``put_metric_data``); the names it publishes
are among its string constants (a literal name, or a dict of names as the watchdog has).

``tests/conftest.py`` puts this folder on ``sys.path``.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The handlers, the layer's use cases, and the operator command (redrive counts what it redrove).
SOURCES = (
    ROOT / "functions",
    ROOT / "layers" / "shared" / "python" / "tracking_export_aws",
    ROOT / "tools" / "admin",
)
PUBLISHING_CALLS = frozenset({"add_metric", "single_metric", "count_outcome", "put_metric_data"})

# Named by the issue-19 shared decisions (/work/coord/OPS.md) and published by work on other
# branches: alarmed and charted already. An entry must go once its metric is published
# (tests/unit/test_template_alarms.py fails while it stays).
NOT_YET_PUBLISHED = {
    "StuckRuns": "the sweep and the Step Functions execution-status handler (issue 19 item 2)",
    "RunsRetried": "transient failures handed back to Lambda's retry (issue 19 item 1)",
    "RedrivenMessages": "tracking-export-admin redrive (issue 19 item 5)",
}


def _modules() -> list[tuple[Path, ast.Module]]:
    found = []
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")) if source.is_dir() else []:
            found.append((path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))))
    return found


def _called(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _strings(tree: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


@functools.cache
def published_names() -> frozenset[str]:
    """Every CamelCase string constant of a module that publishes metrics: the metric names."""
    names: set[str] = set()
    for _, tree in _modules():
        calls = {_called(n) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        if calls & PUBLISHING_CALLS:
            names |= {s for s in _strings(tree) if s.isidentifier() and s[:1].isupper()}
    return frozenset(names)


@functools.cache
def code_strings() -> frozenset[str]:
    """Every string constant of the handlers, the layer and the operator command: a dimension
    value an alarm asks for (an outcome) must be one the code can produce."""
    return frozenset(s for _, tree in _modules() for s in _strings(tree))
