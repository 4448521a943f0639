"""The shared layer's modules import one another without circles, and along the packages' roles.

Every ``import`` of every module under layers/shared/python counts: at module level, inside
functions, under ``if TYPE_CHECKING:``, relative ones resolved. The rule the packages follow
(tracking_export_aws/__init__.py, docs/architecture.md):

    runtime -> ops -> runs / config / ingest -> notify / aws      (runs and ingest may use config)

and the engine (``tracking_export``) imports nothing of AWS.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "layers" / "shared" / "python"
PACKAGES = ("tracking_export", "tracking_export_aws")
# What each role package of tracking_export_aws may import of the others (its own modules always).
MAY_IMPORT = {
    "aws": set(),
    "notify": {"aws"},
    "config": {"notify", "aws"},
    "runs": {"config", "notify", "aws"},
    "ingest": {"config", "notify", "aws"},
    "ops": {"runs", "config", "ingest", "notify", "aws"},
    "runtime": {"ops", "runs", "config", "ingest", "notify", "aws"},
}


def module_name(path: Path, source: Path = SOURCE) -> str:
    """``a/b/c.py`` -> ``a.b.c``; ``a/b/__init__.py`` -> ``a.b`` (a package is its __init__)."""
    parts = list(path.relative_to(source).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_modules(source: Path = SOURCE) -> dict[str, str]:
    """Module name -> source text, for every module of the two packages (a superset of what
    layers/shared/Makefile ships: the engine's CLI is checked too)."""
    return {
        module_name(path, source): path.read_text(encoding="utf-8")
        for package in PACKAGES
        for path in sorted((source / package).rglob("*.py"))
    }


def imported_modules(text: str, name: str, is_package: bool, known: Collection[str]) -> set[str]:
    """The modules of ``known`` that the module ``name`` (source ``text``) imports, from any
    ``import`` statement at any depth and in any branch.

    ``import a.b`` imports ``a.b``; ``from a import b`` imports the submodule ``a.b`` when there
    is one, else ``a`` (``b`` is one of its names; a package is its ``__init__``). A relative
    import is resolved against the module's package.
    """
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parents = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parents, base] if base else parents)
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    found.add(f"{base}.{alias.name}")
                elif base in known:
                    found.add(base)
    return found


def third_party(text: str) -> set[str]:
    """The top-level names of every absolute import of a module's source."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def import_graph(modules: Mapping[str, str], packages: Collection[str] = ()) -> dict[str, set[str]]:
    """Module -> the modules of ``modules`` it imports; ``packages`` names those that are packages."""
    return {name: imported_modules(text, name, name in packages, modules) for name, text in modules.items()}


def circles(graph: Mapping[str, Collection[str]]) -> list[list[str]]:
    """One circle (``[a, b, a]``) for each strongly connected component of more than one module,
    and for each module that imports itself (Tarjan's algorithm, then a shortest way round)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    found = []
    for component in components:
        start = component[0]
        if len(component) == 1 and start not in graph.get(start, ()):
            continue
        found.append(_way_round(graph, start, set(component)))
    return sorted(found)


def _way_round(graph: Mapping[str, Collection[str]], start: str, within: set[str]) -> list[str]:
    """A shortest path from ``start`` back to itself through ``within`` (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph.get(node, ())):
                if target not in within or target in came_from:
                    continue
                came_from[target] = node
                if target == start:
                    path = [start]
                    while path[-1] != start or len(path) == 1:
                        path.append(came_from[path[-1]])
                    return path[::-1]
                following.append(target)
        frontier = following
    raise AssertionError(f"{start} is in a strongly connected component but on no circle")


def role(module: str) -> str | None:
    """The role package of a ``tracking_export_aws`` module (``runs`` for ...runs.service)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "tracking_export_aws" and len(parts) > 1 else None


def _layer_graph() -> tuple[dict[str, str], dict[str, set[str]]]:
    modules = layer_modules()
    packages = {name for name in modules if (SOURCE.joinpath(*name.split(".")) / "__init__.py").is_file()}
    return modules, import_graph(modules, packages)


# --- the layer -----------------------------------------------------------------------------------


def test_every_module_of_the_layer_is_read() -> None:
    modules, graph = _layer_graph()
    assert {"tracking_export.engine", "tracking_export_aws.runs.service", "tracking_export_aws.aws"} <= set(
        modules
    )
    # One run's way through runs/: the service prepares, produces, hands off and finishes.
    assert {
        "tracking_export_aws.runs.plan",
        "tracking_export_aws.runs.produce",
        "tracking_export_aws.runs.handoff",
        "tracking_export_aws.runs.finish",
    } <= graph["tracking_export_aws.runs.service"]


def test_no_module_of_the_layer_is_part_of_an_import_circle() -> None:
    _, graph = _layer_graph()
    found = circles(graph)
    assert found == [], "import circles: " + "; ".join(" -> ".join(circle) for circle in found)


def test_every_aws_side_module_lives_in_a_role_package() -> None:
    modules, _ = _layer_graph()
    misplaced = [
        name for name in modules if name.startswith("tracking_export_aws.") and role(name) not in MAY_IMPORT
    ]
    assert misplaced == [], f"put these in one of {sorted(MAY_IMPORT)}: {misplaced}"


def test_the_role_packages_import_along_the_dependency_rule() -> None:
    _, graph = _layer_graph()
    against = sorted(
        f"{name} imports {target}"
        for name, targets in graph.items()
        for target in targets
        if (mine := role(name)) is not None
        and (theirs := role(target)) is not None
        and theirs != mine
        and theirs not in MAY_IMPORT[mine]
    )
    assert against == []


def test_the_aws_adapters_import_no_use_case() -> None:
    _, graph = _layer_graph()
    use_cases = {"ops", "runs", "config", "ingest", "notify", "runtime"}
    offenders = sorted(
        f"{name} imports {target}"
        for name, targets in graph.items()
        if role(name) == "aws"
        for target in targets
        if role(target) in use_cases
    )
    assert offenders == []


def test_the_engine_imports_nothing_of_aws() -> None:
    modules, _ = _layer_graph()
    offenders = {
        name: sorted(found)
        for name, text in modules.items()
        if name.split(".")[0] == "tracking_export"
        and (found := third_party(text) & {"tracking_export_aws", "boto3", "botocore"})
    }
    assert offenders == {}


def test_the_export_use_case_imports_no_aws_sdk() -> None:
    """Issue 16 item 5: presigning, object metadata, credential expiry and the reading of AWS
    errors sit behind adapters in aws/; no module of runs/ imports botocore or boto3 itself."""
    modules, _ = _layer_graph()
    runs = {name: text for name, text in modules.items() if role(name) == "runs"}
    assert "tracking_export_aws.runs.failure" in runs  # the module that read botocore's errors
    offenders = {
        name: sorted(found)
        for name, text in runs.items()
        if (found := third_party(text) & {"boto3", "botocore"})
    }
    assert offenders == {}


def test_the_sdk_check_sees_an_sdk_import_anywhere_in_a_module() -> None:
    text = """
def reason(exc):
    from botocore.exceptions import ClientError
    return isinstance(exc, ClientError)
"""
    assert third_party(text) & {"boto3", "botocore"} == {"botocore"}


# --- the checks themselves -----------------------------------------------------------------------


def test_the_walk_counts_imports_in_functions_type_checking_and_relative_ones() -> None:
    known = {"pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d", "pkg.sub", "pkg.sub.e"}
    text = """
from typing import TYPE_CHECKING
from . import a
from .b import something
if TYPE_CHECKING:
    from pkg.c import Type
def later():
    import pkg.d
from pkg.sub import e, name_of_sub
"""
    assert imported_modules(text, "pkg.x", False, known) == {
        "pkg.a",
        "pkg.b",
        "pkg.c",
        "pkg.d",
        "pkg.sub.e",
        "pkg.sub",  # name_of_sub is a name of pkg.sub's __init__
    }
    assert imported_modules("from .. import c", "pkg.sub.e", False, known) == {"pkg.c"}
    assert imported_modules("from . import e", "pkg.sub", True, known) == {"pkg.sub.e"}


def test_a_planted_circle_is_found_and_named() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}, "f": {"d"}}
    assert circles(graph) == [["a", "b", "c", "a"], ["e", "e"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_a_circle_through_a_function_level_import_is_found() -> None:
    # The shape of the circle erasure/retention <-> wiring had through their command-line mains.
    modules = {
        "app.erasure": "def main():\n    from app import wiring\n",
        "app.wiring": "from app.erasure import LearnerEraser\n",
    }
    assert circles(import_graph(modules)) == [["app.erasure", "app.wiring", "app.erasure"]]
