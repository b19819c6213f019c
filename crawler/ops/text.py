"""Plain-text tables for the terminal: aligned columns, numbers right-aligned.

The operators' commands print to terminals and into tickets and e-mails, so the tables are
plain ASCII with no colour or box-drawing, and stay readable when pasted.
"""

from __future__ import annotations

from collections.abc import Sequence


def _is_number(cell: str) -> bool:
    return cell.replace(",", "").replace(".", "", 1).lstrip("-").isdigit()


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  ") -> str:
    """Columns padded to their widest cell; numeric columns right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    numeric = [bool(cells) and all(_is_number(r[i]) for r in cells) for i in range(len(headers))]

    def fmt(row: Sequence[str]) -> str:
        out = [
            cell.rjust(widths[i]) if numeric[i] else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        return (indent + "  ".join(out)).rstrip()

    lines = [fmt(list(headers)), indent + "  ".join("-" * w for w in widths)]
    lines += [fmt(row) for row in cells]
    if not cells:
        lines.append(indent + "(none)")
    return "\n".join(lines) + "\n"


def pairs(rows: Sequence[tuple[str, object]], indent: str = "  ") -> str:
    """``name  value`` lines with the names aligned (key facts of a job or a record)."""
    if not rows:
        return ""
    width = max(len(name) for name, _ in rows)
    return "".join(f"{indent}{name.ljust(width)}  {value}\n" for name, value in rows)
