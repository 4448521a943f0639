"""``python -m tools.schemas docs/schemas``: write the JSON Schemas of the notification message.

Generated from the models of :mod:`tracking_export_aws.notify.messages`;
tests/unit/test_messages.py fails when the published files differ from what this writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tracking_export_aws.notify import messages


def main(argv: list[str]) -> int:
    """``python -m tools.schemas DIR``: write the schemas into DIR."""
    if len(argv) != 1:
        print("usage: python -m tools.schemas DIR", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    folder.mkdir(parents=True, exist_ok=True)
    for name, schema in messages.schemas().items():
        (folder / name).write_text(messages.render(schema), encoding="utf-8")
        print(folder / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
