"""How long a refusal takes, and how much memory it needs, for the worst inputs of issue 6.

    python bench/hostile_inputs.py

Prints, for each hostile input (a 128 KB "address" built to make a backtracking pattern
quadratic, 1 MiB of XML and of JSON nested as deep as the bytes allow, a 50 MB definition,
a cron field list of every minute), the time to refuse it and the peak RSS of a fresh
process doing only that. Each figure is the best of 5 runs. The refusals themselves are
asserted in tests/unit/test_hostile_inputs.py; here only their cost is shown.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tracking_export.definition import load_definition
from tracking_export.errors import DefinitionError
from tracking_export.limits import email_problem, schedule_interval_problem

MIB = 1024 * 1024


def _deep_xml() -> bytes:
    depth = (MIB - 64) // 7
    return b"<providers>" + b"<a>" * depth + b"</a>" * depth + b"</providers>"


def _deep_json() -> bytes:
    depth = (MIB - 64) // 2
    return b'{"columns": ' + b"[" * depth + b"]" * depth + b"}"


def _refused(data: bytes) -> None:
    try:
        load_definition(data)
    except DefinitionError:
        return
    raise AssertionError("accepted")


CASES: dict[str, Callable[[], Callable[[], object]]] = {
    "email, 128 KB of 'a.'": lambda: (lambda value: lambda: email_problem(value))("a@" + "a." * 65536),
    "XML nested 1 MiB deep": lambda: (lambda data: lambda: _refused(data))(_deep_xml()),
    "JSON nested 1 MiB deep": lambda: (lambda data: lambda: _refused(data))(_deep_json()),
    "50 MB definition": lambda: (lambda data: lambda: _refused(data))(b" " * (50 * MIB)),
    "cron every minute, listed": lambda: (lambda e: lambda: schedule_interval_problem(e, 15))(
        "cron(" + ",".join(str(m) for m in range(60)) + " * * * ? *)"
    ),
}


def _time(name: str) -> float:
    run = CASES[name]()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def _peak_rss_mb(name: str) -> float:
    """Peak RSS (VmHWM: reset at exec, unlike ru_maxrss) of a fresh process that builds the
    input and refuses it once."""
    code = (
        f"import hostile_inputs as b; b.CASES[{name!r}]()(); "
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
    )
    return int(out.stdout.strip()) / 1024


def main() -> None:
    print(f"{'input':32} {'refused in':>12} {'peak RSS':>10}")
    for name in CASES:
        print(f"{name:32} {_time(name) * 1000:9.2f} ms {_peak_rss_mb(name):7.0f} MB")


if __name__ == "__main__":
    main()
