"""``client()`` is typed per service (boto3-stubs): mypy refuses a misspelt parameter.

DynamoDB's client skips botocore's parameter validation at run time (aws/clients.py), so a
misspelt keyword would be dropped silently; the stub types catch it before it runs. The check
runs mypy itself on two snippets: the same call, spelt right and wrong.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = """
from tracking_export_aws.aws.clients import client


def read() -> None:
    answer = client("dynamodb").query(TableName="t", {key}="pk = :p", ExpressionAttributeValues={{}})
    answer["Items"]
    client("s3").head_object(Bucket="b", Key="k")
    client("stepfunctions").start_execution(stateMachineArn="arn:aws:states:::x", input="{{}}")
"""


def _mypy(tmp_path: Path, key: str) -> tuple[str, int]:
    api = pytest.importorskip("mypy.api")
    source = tmp_path / "snippet.py"
    source.write_text(SNIPPET.format(key=key), encoding="utf-8")
    out, err, status = api.run(
        [
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--config-file",
            str(ROOT / "pyproject.toml"),
            str(source),
        ]
    )
    return out + err, status


def test_mypy_refuses_a_misspelt_parameter_and_accepts_the_right_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # pyproject's mypy_path is relative to the repository
    out, status = _mypy(tmp_path, "KeyConditionExpresion")
    assert status == 1, out
    assert 'Unexpected keyword argument "KeyConditionExpresion"' in out
    out, status = _mypy(tmp_path, "KeyConditionExpression")
    assert status == 0, out
