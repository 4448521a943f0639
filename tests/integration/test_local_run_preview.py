"""`make local` prints, for each run, the `export=… sha256=…` line and a `preview:` command;
the preview, run from the repository root, writes exactly the bytes the service stored
(issue 8 item 4). The local run goes in its own process: it sets the environment of the
process it runs in."""

from __future__ import annotations

import hashlib
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXPORT_LINE = re.compile(r"^export=(\S+) path=(single|distributed) shards=(\d+) sha256=([0-9a-f]{64})$")


def test_each_preview_writes_the_bytes_of_the_object_the_run_stored() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tools.local_run", "--logs", "2000", "--rows", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    runs = [(n, EXPORT_LINE.match(line)) for n, line in enumerate(lines) if line.startswith("export=")]
    assert sorted(m.group(1) for _, m in runs if m) == ["daily-tracking-log", "weekly-completions"]
    for number, match in runs:
        assert match is not None, lines[number]
        preview = lines[number + 1]
        assert preview.startswith("preview: "), preview
        command = shlex.split(preview.removeprefix("preview: "))
        assert command[1:2] == ["render"] and command[-2:] == ["--output", "-"]
        rendered = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=300, check=True).stdout
        assert hashlib.sha256(rendered).hexdigest() == match.group(4), match.group(1)
    # What the run uploaded and loaded stays for the previews.
    kept = sorted(p.name for p in (ROOT / ".local" / "run").iterdir())
    assert kept == ["acme.jsonl", "daily-tracking-log.xml", "tenant.json", "weekly-completions.xml"]
