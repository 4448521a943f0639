"""The nightly delta export the run-fault, healing and stuck-run tests run (two columns, one
fixed file name): a run's window and its file are what those tests look at.

``tests/conftest.py`` puts this folder on ``sys.path``.
"""

from __future__ import annotations

NIGHTLY_XML = """<?xml version="1.0" encoding="UTF-8"?>
<export-config>
  <export guid="nightly">
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
      <moveToFolder>
        <fileName>nightly.csv</fileName>
      </moveToFolder>
    </consolidators>
  </export>
</export-config>
"""
