"""The nightly delta export many integration tests run (two columns, deltaMode, one file in a
folder): a run's window and its file are what those tests look at. ``nightly_xml`` makes the
variants they need — another guid, file name or folder, a schedule, more consolidators.

``tests/conftest.py`` puts this folder on ``sys.path``.
"""

from __future__ import annotations


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
