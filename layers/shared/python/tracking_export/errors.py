"""Domain errors of the engine. Each names what is wrong and where."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DefinitionIssue:
    """One problem in an export definition."""

    path: str  # element path, e.g. "/export-config/export/providers/trackingLogProvider/columns/foo"
    line: int | None  # line number in the XML, None for JSON
    message: str  # what is wrong and what is allowed

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.path}: {self.message}"


class DefinitionError(ValueError):
    """The definition is invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: list[DefinitionIssue], source: str = "definition") -> None:
        self.issues = issues
        self.source = source
        super().__init__(f"{source}: {len(issues)} error(s)\n" + "\n".join(str(i) for i in issues))


class ExportRunError(RuntimeError):
    """A run failed; the message is the readable reason sent in the notification."""


class UnencodableCellError(ExportRunError):
    """A cell holds a character the file's encoding cannot represent."""

    def __init__(self, row: int, column: int, header: str, char: str, encoding: str) -> None:
        self.row = row
        self.column = column
        self.header = header
        self.char = char
        self.encoding = encoding
        super().__init__(
            f"row {row}, column {column + 1} ({header!r}): character {char!r} (U+{ord(char):04X}) "
            f"cannot be written in {encoding}; choose another encoding or onUnencodable=replace"
        )
