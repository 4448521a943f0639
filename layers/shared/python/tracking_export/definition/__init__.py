"""Load an export definition (spec ``export-definition.md``) from XML or JSON.

Both forms are first reduced to one small tree of :class:`_Node` (name as written,
attributes, text, children, path, line). One validator then walks that tree with
tables of option specs, collects *every* problem in a single pass and either builds
:class:`~tracking_export.model.ExportDefinition` or raises
:class:`~tracking_export.errors.DefinitionError` listing them all.

The package, in the order a definition goes through it: :mod:`.reader` (XML/JSON to the
tree, defusedxml, size/depth/element caps), :mod:`.options` (option tables and where each
part sits), :mod:`.values` (one option's text to a value) and :mod:`.validation` (parts to
the model, cross-field rules, caps). Only :func:`load_definition` is the public API; the
underscored names are shared between these modules and nowhere else.
The accepted shapes are described in ``docs/definition-format.md``.
"""

from __future__ import annotations

from tracking_export.definition.options import _json_parts, _xml_parts
from tracking_export.definition.reader import (
    MAX_LISTED_ISSUES,
    _is_json,
    _Node,
    _read_json,
    _read_xml,
    _Report,
)
from tracking_export.definition.validation import GUID_RE, _validate
from tracking_export.limits import DEFAULT_LIMITS, Limits
from tracking_export.model import ExportDefinition

__all__ = ["GUID_RE", "MAX_LISTED_ISSUES", "load_definition"]


def load_definition(
    data: bytes | str, *, name: str = "definition.xml", limits: Limits = DEFAULT_LIMITS
) -> ExportDefinition:
    """Parse and validate an export definition, XML or JSON (first non-blank character ``{``).

    ``name`` is the file name: in the bare ``<providers>`` form its stem is the export's
    guid, and it names the source in error messages. ``limits`` are the caps it must keep
    to (docs/limits.md). Raises :class:`~tracking_export.errors.DefinitionError` listing
    every problem found.
    """
    report = _Report(name, limits)
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > limits.max_definition_bytes:
        report.error(
            _Node("", "/", None),
            f"the definition is {size} bytes; at most {limits.max_definition_bytes} are allowed "
            "(setting MAX_DEFINITION_BYTES)",
        )
        report.fail_if_any()
    if _is_json(data):
        root = _read_json(data, report)
        parts = _json_parts(root, report) if root is not None else None
    else:
        xml_root = _read_xml(data, report)
        parts = _xml_parts(xml_root, name, report) if xml_root is not None else None
    if parts is None:
        report.fail_if_any()
        raise AssertionError("a definition that cannot be read always has an issue")  # pragma: no cover
    return _validate(parts, name, report)
