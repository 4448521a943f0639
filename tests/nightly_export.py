"""The nightly delta export many integration tests run (two columns, deltaMode, one file in a
folder): a run's window and its file are what those tests look at. ``nightly_xml`` makes the
variants they need — another guid, file name or folder, a schedule, more consolidators.

``tests/conftest.py`` puts this folder on ``sys.path``.
"""

from __future__ import annotations

from typing import Any


def nightly_xml(
    *,
    guid: str = "nightly",
    file_name: str = "nightly.csv",
    folder: str | None = None,
    schedule: str = "",
    consolidators: str = "",
) -> str:
    """The nightly definition: ``schedule`` (a ``<schedule>`` element) and ``consolidators``
    (more consolidator elements, after ``moveToFolder``) are XML inserted as they are."""
    folder_path = "" if folder is None else f"\n        <folderPath>{folder}</folderPath>"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="{guid}">{schedule}
    <providers>
      <trackingLogProvider>
        <columns>
          <logDate/>
          <timeGlobal/>
        </columns>
        <parameters>
          <deltaMode>yes</deltaMode>
        </parameters>
      </trackingLogProvider>
    </providers>
    <consolidators>
      <moveToFolder>{folder_path}
        <fileName>{file_name}</fileName>
      </moveToFolder>{consolidators}
    </consolidators>
  </export>
</export-config>
"""


NIGHTLY_XML = nightly_xml()

# The tenant of those tests: Paris time, one address told of every run.
NIGHTLY_TENANT = {"timezone": "Europe/Paris", "notificationEmails": ["training@acme.example"]}


def put_nightly(
    stack: Any, records: Any, xml: str = NIGHTLY_XML, tenant: dict[str, Any] = NIGHTLY_TENANT
) -> None:
    """Tenant ``acme`` (``tenant``'s settings) with the export ``nightly`` (``xml``), its
    catalogue and two logs: 60 s on 1 March and 120 s on 2 March 2026, 09:00 UTC."""
    stack.put_tenant("acme", tenant)
    stack.put_definition("acme", "nightly", xml)
    stack.load(
        [
            *records.catalogue("acme"),
            records.log("acme", 1, "2026-03-01T09:00:00Z", 60),
            records.log("acme", 2, "2026-03-02T09:00:00Z", 120),
        ]
    )
