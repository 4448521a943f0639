"""JSON nesting is refused by an explicit depth, the same on every Python (issue 17 item 3).

Python 3.11's json gave up past about 1,000 levels (RecursionError) and 3.13's parses a 5,000-deep
tenant.json, so "nested too deep" depended on the interpreter until the depth was the service's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tracking_export.limits import MAX_JSON_DEPTH, json_nesting_line
from tracking_export.source import InvalidLine, read_jsonl
from tracking_export_aws.config.store import ConfigInvalid, parse_tenant_settings


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_the_limit_is_the_depth_itself() -> None:
    assert json_nesting_line(_nested(MAX_JSON_DEPTH)) is None
    assert json_nesting_line(_nested(MAX_JSON_DEPTH + 1)) == 1
    assert json_nesting_line(b"{\n" + _nested(MAX_JSON_DEPTH).encode() + b"\n}") == 2


def test_brackets_inside_strings_do_not_count() -> None:
    text = '{"a": "' + "[" * 500 + '\\"' + "{" * 500 + '"}'
    assert json_nesting_line(text) is None
    assert json_nesting_line(text.encode()) is None


def test_a_deep_tenant_json_is_refused_before_parsing() -> None:
    deep = ('{"timezone": ' + _nested(MAX_JSON_DEPTH + 1) + "}").encode()
    with pytest.raises(ConfigInvalid) as info:
        parse_tenant_settings(deep, "tenants/acme/tenant.json")
    assert info.value.problems == ["not JSON this service reads: nested too deep"]


def test_a_deep_dataset_line_is_skipped_and_the_next_one_read(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    # Line 1 nests exactly the limit (the object, then 63 lists): parsed, then refused for its
    # type; line 2 nests one more: refused before parsing; line 3 is read after it.
    path.write_text(
        '{"list": ' + _nested(MAX_JSON_DEPTH - 1) + "}\n" + _nested(MAX_JSON_DEPTH + 1) + "\n[]\n"
    )
    reasons = [(number, line.reason) for number, line in read_jsonl(path) if isinstance(line, InvalidLine)]
    assert [number for number, _ in reasons] == [1, 2, 3]
    assert reasons[0][1].startswith("unknown type")
    assert reasons[1:] == [(2, "not JSON this service reads: nested too deep"), (3, "not a JSON object")]
