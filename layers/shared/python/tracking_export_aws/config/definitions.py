"""Export definitions as the AWS side stores them: one object ``{export_guid}.xml`` per export.

Shared by the use cases that read a definition (config-sync validates an upload, the export
run loads the version it runs), so that neither imports the other.
"""

from __future__ import annotations

from tracking_export.definition import load_definition
from tracking_export.errors import DefinitionError, DefinitionIssue
from tracking_export.limits import DEFAULT_LIMITS, Limits
from tracking_export.model import ExportDefinition

__all__ = ["checked_definition"]


def checked_definition(data: bytes, export_guid: str, limits: Limits = DEFAULT_LIMITS) -> ExportDefinition:
    """The definition stored as ``{export_guid}.xml``; its own guid, if any, must match the name."""
    definition = load_definition(data, name=f"{export_guid}.xml", limits=limits)
    if definition.guid != export_guid:
        raise DefinitionError(
            [
                DefinitionIssue(
                    path="/export-config/export/@guid",
                    line=None,
                    message=f"the definition's guid {definition.guid!r} differs from its file name "
                    f"{export_guid!r}; name the file after the guid",
                )
            ],
            source=f"{export_guid}.xml",
        )
    return definition
