"""Markdown building blocks shared by the reports: tables whose cells cannot break the table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def cell(text: object) -> str:
    """A table cell: pipes escaped and newlines flattened, so any template text fits in one row."""
    return " ".join(str(text).split()).replace("|", "\\|")


def code(text: object) -> str:
    """Inline code, so that ``<Key.Arn>`` and ``*`` show literally; empty text stays empty."""
    value = " ".join(str(text).split())
    if not value:
        return ""
    fence = "``" if "`" in value else "`"
    return f"{fence}{value}{fence}"


def code_list(values: Iterable[object]) -> str:
    """``a``, ``b``: each value as inline code, comma-separated."""
    return ", ".join(code(v) for v in values)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; rows are written in the order given (callers sort).

    Every value goes through ``cell``, so callers pass plain text or ``code(...)``, never pre-escaped text.
    """
    lines = [
        "| " + " | ".join(cell(h) for h in headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def document(title: str, *sections: str) -> str:
    """A report: a title, then sections separated by blank lines, ending in one newline."""
    parts = [f"# {title}", *[section.strip("\n") for section in sections if section.strip()]]
    return "\n\n".join(parts) + "\n"
