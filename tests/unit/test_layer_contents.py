"""The shared layer holds the runtime code the handlers need, and no developer tool.

layers/shared/Makefile builds the layer from an explicit list of modules. These tests build
it into a temporary directory (as `sam build` does) and compare what it holds with what the
handlers of functions/*/ import, directly or through other first-party modules.
tests/integration/test_built_layers.py then imports the handlers from the built layers alone.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "layers" / "shared" / "python"
FIRST_PARTY = ("tracking_export", "tracking_export_aws")
# Installed by the dev extra only: a layer module importing one would fail in Lambda (the
# service stubs, mypy_boto3_*, by their prefix). Under ``if TYPE_CHECKING:`` they are for mypy.
DEV_ONLY = {"tools", "moto", "pytest", "hypothesis", "yaml", "boto3_stubs", "botocore_stubs"}
DEV_ONLY_PREFIXES = ("mypy_boto3_",)
HANDLERS = sorted(ROOT.glob("functions/*/*.py"))


def _module_file(name: str) -> Path | None:
    """The source file of a first-party module or package, or None if ``name`` is neither."""
    path = SOURCE.joinpath(*name.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def _imported_names(path: Path, package: str) -> set[str]:
    """Every module name an ``import`` statement of ``path`` may load (at any depth, any branch).

    ``from a import b`` yields ``a`` and ``a.b`` (``b`` may be a submodule); a relative import is
    resolved against ``package``.
    """
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parents = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parents, base] if base else parents)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _with_parents(name: str) -> list[str]:
    """``a.b.c`` -> ``a``, ``a.b``, ``a.b.c``: importing a module runs its packages' ``__init__``."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def handler_closure() -> dict[str, Path]:
    """First-party module name -> source file, for every module the handlers import transitively."""
    found: dict[str, Path] = {}
    pending = [name for handler in HANDLERS for name in _imported_names(handler, "")]
    while pending:
        for name in _with_parents(pending.pop()):
            if name in found or name.split(".")[0] not in FIRST_PARTY:
                continue
            path = _module_file(name)
            if path is None:  # a function or class imported from a module, not a module
                continue
            found[name] = path
            package = name if path.name == "__init__.py" else name.rpartition(".")[0]
            pending.extend(_imported_names(path, package))
    return found


@pytest.fixture(scope="module")
def built_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared layer as its Makefile builds it (``ARTIFACTS_DIR/python``)."""
    artifacts = tmp_path_factory.mktemp("shared-layer")
    makefile_dir = ROOT / "layers" / "shared"
    subprocess.run(
        ["make", "-s", "-C", str(makefile_dir), "build-SharedLayer", f"ARTIFACTS_DIR={artifacts}"],
        check=True,
        capture_output=True,
    )
    return artifacts / "python"


def _layer_files(layer: Path) -> set[str]:
    return {path.relative_to(layer).as_posix() for path in layer.rglob("*") if path.is_file()}


def test_the_handlers_are_found() -> None:
    assert {path.parent.name for path in HANDLERS} >= {"export", "config_sync", "ingest"}


def test_the_walk_follows_imports_through_modules_and_packages() -> None:
    closure = handler_closure()
    # export_app imports runs.service, which imports the engine: two hops from the handler.
    assert {"tracking_export_aws.runs.service", "tracking_export.engine"} <= set(closure)
    # `from tracking_export_aws import wiring` names a submodule, not an attribute.
    assert "tracking_export_aws.runtime.wiring" in closure
    assert closure["tracking_export"] == SOURCE / "tracking_export" / "__init__.py"


def test_the_layer_holds_every_module_the_handlers_import(built_layer: Path) -> None:
    shipped = _layer_files(built_layer)
    needed = {path.relative_to(SOURCE).as_posix() for path in handler_closure().values()}
    missing = sorted(needed - shipped)
    assert not missing, f"add to RUNTIME_MODULES in layers/shared/Makefile: {', '.join(missing)}"


def test_the_layer_holds_source_files_only_and_no_developer_tool(built_layer: Path) -> None:
    shipped = _layer_files(built_layer)
    assert shipped, "the shared layer is empty"
    # Only the two runtime packages: nothing of tools/, no metadata, no caches of the checkout.
    assert {name.split("/")[0] for name in shipped} <= set(FIRST_PARTY)
    sources = {name for name in shipped if name.endswith(".py")}
    for name in sorted(sources):
        # Each shipped source file is the source file, byte for byte.
        assert (built_layer / name).read_bytes() == (SOURCE / name).read_bytes(), name
    # Beside each, and nothing else: its bytecode, compiled by CPython 3.13 (layers/bytecode.mk).
    assert shipped - sources == {_bytecode_of(name) for name in sources}


def _bytecode_of(source: str) -> str:
    folder, _, module = source.rpartition("/")
    return f"{folder}/__pycache__/{module.removesuffix('.py')}.cpython-313.pyc"


def test_the_bytecode_is_checked_against_its_source(built_layer: Path) -> None:
    """Hash-based pycs (flags 0b11, PEP 552): the import reads the source and compares hashes,
    so a pyc never runs in place of another source, whatever file times the layer's zip keeps."""
    for pyc in sorted(built_layer.rglob("*.pyc")):
        header = pyc.read_bytes()[:16]
        assert int.from_bytes(header[4:8], "little") == 0b11, pyc


_CHECKING = ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _runtime_imports(path: Path) -> set[str]:
    """The top-level packages ``path`` may import when it runs: every import statement but those
    under ``if TYPE_CHECKING:``, which only the type checker reads."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    checking_only = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If)
        and ast.unparse(branch.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for statement in branch.body
        for node in ast.walk(statement)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in checking_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def _dev_only(names: set[str]) -> list[str]:
    return sorted(name for name in names if name in DEV_ONLY or name.startswith(DEV_ONLY_PREFIXES))


def test_no_layer_module_imports_a_dev_only_package(built_layer: Path) -> None:
    offenders = {}
    for path in sorted(built_layer.rglob("*.py")):
        found = _dev_only(_runtime_imports(path))
        if found:
            offenders[path.relative_to(built_layer).as_posix()] = found
    assert offenders == {}


def test_the_stub_types_are_imported_for_the_type_checker_only() -> None:
    """The adapters annotate their clients with the stubs' types (checked by mypy, absent from the
    layer): imported under ``if TYPE_CHECKING:``, and never at run time."""
    typed = [path for path in SOURCE.rglob("*.py") if "mypy_boto3_" in path.read_text(encoding="utf-8")]
    assert len(typed) > 10  # the walk sees the adapters
    for path in typed:
        assert _dev_only(_runtime_imports(path)) == [], path
        # Annotations stay strings: without this the stub names would be looked up at run time.
        assert "from __future__ import annotations" in path.read_text(encoding="utf-8"), path


def test_the_dev_tools_are_not_in_the_layer_source() -> None:
    """The modules that moved to tools/ (issues 8 and 16) must not come back under layers/shared."""
    moved_out = ("local_run", "local_endpoints", "template_tables", "sample_data", "load", "serve")
    # Issue 16: the operators' command lines and the schema generator.
    for moved in (*moved_out, "erase_learner", "apply_retention", "schemas"):
        assert (ROOT / "tools" / f"{moved}.py").is_file(), moved
        assert not list(SOURCE.rglob(f"{moved}.py")), moved


def test_no_handler_creates_a_tracer() -> None:
    """Powertools' Tracer imports aws-xray-sdk, which the deps layer no longer ships (issue 17,
    decisions.md "Deployable"): in Lambda, with tracing active, a handler creating one would
    fail at its first cold start."""
    offenders = []
    for path in [*HANDLERS, *SOURCE.rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            named = (
                node.id
                if isinstance(node, ast.Name)
                else node.attr
                if isinstance(node, ast.Attribute)
                else ""
            )
            if named == "Tracer" or (isinstance(node, ast.alias) and node.name == "Tracer"):
                offenders.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}")
    assert offenders == []
