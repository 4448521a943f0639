"""The daily export both the handler-event tests and the built-layer test run: its definition,
the tenant and two logs it exports, and the file it must write.

``tests/conftest.py`` puts this folder on ``sys.path``.
"""

from __future__ import annotations

from typing import Any

DAILY_XML = """<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="daily-tracking-log">
    <schedule timezone="Europe/Paris">cron(0 2 * * ? *)</schedule>
    <providers>
      <trackingLogProvider>
        <columns>
          <logDate/>
          <candidateId/>
          <firstLaunchDate/>
          <timeGlobal/>
        </columns>
        <parameters>
          <deltaMode>yes</deltaMode>
        </parameters>
      </trackingLogProvider>
    </providers>
    <consolidators>
      <moveToFolder>
        <folderPath>daily</folderPath>
        <fileName>tracking_log_%Y%m%d_%i.csv</fileName>
      </moveToFolder>
    </consolidators>
  </export>
</export-config>
"""

# The two logs of data-contract.md's example moved to 26 November 2026 (Paris is UTC+1 then);
# the first run of a deltaMode export takes all data up to the run.
EXPECTED_FILE = (
    b"logDate;candidateId;firstLaunchDate;timeGlobal\r\n"
    b"2026-11-26;1;2026-11-26 10:30:00;180\r\n"
    b"2026-11-26;1;2026-11-26 18:00:00;60\r\n"
)


def put_daily_tenant(stack: Any, records: Any) -> None:
    """Tenant acme (Europe/Paris) with the daily definition, its catalogue and the two logs."""
    stack.put_tenant("acme", {"timezone": "Europe/Paris"})
    stack.put_definition("acme", "daily-tracking-log", DAILY_XML)
    stack.load(
        [
            *records.catalogue("acme"),
            records.log("acme", 9001, "2026-11-26T09:30:00Z", 180),
            records.log("acme", 9002, "2026-11-26T17:00:00Z", 60, progression=100, status="completed"),
        ]
    )
