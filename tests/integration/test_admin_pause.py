"""``tracking-export-admin pause`` and ``resume`` against the local stack (moto server, dynalite):
what an operator types and reads, and what it does to the schedules and the pause records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Stack

from tools.admin.main import main
from tracking_export_aws.aws.s3_events import S3ObjectEvent
from tracking_export_aws.runtime import wiring
from tracking_export_aws.runtime.settings import ConfigSyncSettings

DEFINITION = """<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="{guid}">
    <providers><trackingLogProvider><columns><logDate/></columns></trackingLogProvider></providers>
  </export>
</export-config>
"""


@pytest.fixture
def scheduled(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    """Tenant acme with two scheduled exports; this process's environment is the functions'."""
    for name, value in stack.env("ConfigSyncFunction").items():
        monkeypatch.setenv(name, value)
    sync = wiring.config_sync_service(stack.settings(ConfigSyncSettings))
    for guid in ("daily", "weekly"):
        key = stack.put_definition("acme", guid, DEFINITION.format(guid=guid))
        assert sync.apply(S3ObjectEvent(stack.config_bucket, key)).action == "scheduled"
    return stack


def states(stack: Stack) -> dict[str, str]:
    listing = stack.scheduler.list_schedules(GroupName=stack.schedule_group)["Schedules"]
    return {s["Name"]: s["State"] for s in listing}


def test_pause_and_resume_one_export(scheduled: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "pause",
                "--tenant",
                "acme",
                "--export",
                "daily",
                "--reason",
                "asked by the tenant",
                "--by",
                "ann",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("tenant=acme export=daily: paused (paused at ")
    assert lines[0].endswith(' by ann reason="asked by the tenant")')
    assert lines[1:] == ["export=daily schedule=disabled"]
    assert states(scheduled) == {"acme--daily": "DISABLED", "acme--weekly": "ENABLED"}

    assert main(["pause", "--tenant", "acme", "--export", "daily", "--reason", "again", "--by", "bob"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "already paused" in lines[0] and "by ann" in lines[0] and "asked by the tenant" in lines[0]
    assert lines[1:] == ["export=daily schedule=unchanged"]

    assert main(["resume", "--tenant", "acme", "--export", "daily", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["action"], document["already"], document["reason"], document["by"]) == (
        "resumed",
        False,
        "asked by the tenant",
        "ann",
    )
    assert document["schedules"] == [{"exportGuid": "daily", "schedule": "enabled"}]
    assert states(scheduled) == {"acme--daily": "ENABLED", "acme--weekly": "ENABLED"}


def test_a_tenant_pause_from_an_env_file(
    scheduled: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / "env.json"
    environment = {"ConfigSyncFunction": scheduled.env("ConfigSyncFunction")}
    env_file.write_text(json.dumps(environment), encoding="utf-8")
    where = ["--env-file", str(env_file), "--region", "us-east-1"]

    assert main([*where, "pause", "--tenant", "acme", "--by", "ops"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "export=daily schedule=disabled",
        "export=weekly schedule=disabled",
    ]
    assert main([*where, "pause", "--tenant", "acme", "--export", "weekly", "--by", "ops"]) == 0
    capsys.readouterr()
    assert main([*where, "resume", "--tenant", "acme"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "export=daily schedule=enabled",
        "export=weekly schedule=still paused",
    ]
    assert states(scheduled) == {"acme--daily": "ENABLED", "acme--weekly": "DISABLED"}


def test_a_bad_tenant_id_is_refused_before_anything_is_touched(
    scheduled: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pause", "--tenant", "Acme Corp"]) == 2
    assert "invalid tenant id 'Acme Corp'" in capsys.readouterr().err
    assert states(scheduled) == {"acme--daily": "ENABLED", "acme--weekly": "ENABLED"}


def test_without_the_run_history_table_the_command_says_what_is_missing(
    scheduled: Stack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RUN_HISTORY_TABLE")
    assert main(["resume", "--tenant", "acme"]) == 2
    assert "does not give RUN_HISTORY_TABLE" in capsys.readouterr().err


def test_the_console_script_is_declared() -> None:
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    assert 'tracking-export-admin = "tools.admin.main:main"' in text
