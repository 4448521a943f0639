"""An older revision of this repository, extracted for a bench to measure in the same run.

Imported as ``revisions`` (a bench runs as ``python bench/NAME.py``). Nothing of the project
is imported here, so a child process started with :func:`code_environment` imports the
project's modules from the tree it names only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Today's main when issue 15 was filed: the baseline of the read-path benches.
DEFAULT_BASELINE = "c8ed320"
# The project's own top-level packages: in a child, each must come from the tree it runs.
PROJECT_PACKAGES = ("tracking_export", "tracking_export_aws", "tools")


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


@contextmanager
def extracted(root: Path, revision: str) -> Iterator[tuple[str, Path]]:
    """``(commit, tree)``: ``revision`` of the repository at ``root`` extracted with
    ``git archive`` into a temporary directory (removed afterwards), its ``.local`` a symlink
    to ``root/.local`` (where dynalite is)."""
    try:
        commit = git(root, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").strip()
    except subprocess.CalledProcessError:
        sys.exit(f"baseline {revision!r}: not a commit of the repository at {root}")
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as scratch:
        tree = Path(scratch) / "tree"
        tree.mkdir()
        archive = subprocess.Popen(["git", "-C", str(root), "archive", commit], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(tree)], stdin=archive.stdout, check=True)
        assert archive.stdout is not None
        archive.stdout.close()
        if archive.wait() != 0:
            sys.exit(f"baseline {revision!r}: git archive {commit} failed")
        (tree / ".local").symlink_to(root / ".local")
        yield commit, tree


def code_environment(tree: Path, env: dict[str, str]) -> dict[str, str]:
    """``env`` for a child process that imports the project from ``tree``: its layer and its
    root first on ``PYTHONPATH`` (ahead of this checkout's editable install), and
    ``TRACKING_EXPORT_ROOT`` (what ``tools.local_endpoints.repo_root`` answers)."""
    paths = [str(tree / "layers" / "shared" / "python"), str(tree)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    return {**env, "PYTHONPATH": os.pathsep.join(paths), "TRACKING_EXPORT_ROOT": str(tree)}


def foreign_modules(tree: Path) -> list[str]:
    """The project's modules this process loaded from anywhere but ``tree`` (empty when all is well)."""
    wrong = []
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in PROJECT_PACKAGES:
            continue
        file = getattr(module, "__file__", None)
        if file is None:  # a namespace package has no file; its modules are checked one by one
            continue
        if not Path(file).resolve().is_relative_to(tree.resolve()):
            wrong.append(f"{name} from {file}")
    return wrong
