"""Status handling shared by the use-signal files (ai.txt, tdmrep.json).

An unreadable file (5xx, 429, network error) is never read as permission: with on_error =
"refuse" it refuses use (verdict "error"); with "ignore" it is recorded and plays no part.
A 3xx left unresolved or a 4xx means the site does not publish the file.
"""

from __future__ import annotations

from .decision import Reason
from .evidence import FetchedFile
from .policy import FileSignalPolicy
from .robots_txt import describe_status


def unusable_reason(
    signal: str, name: str, file: FetchedFile, section: FileSignalPolicy
) -> Reason | None:
    """A reason when ``file`` cannot be parsed as the signal file, else None."""
    if file.unreachable:
        status = describe_status(file.status, file.error)
        if section.on_error == "refuse":
            return Reason(
                signal,
                "error",
                "use",
                (f"{name} could not be read ({status}); refused because on_error = 'refuse'"),
                file.sha256,
            )
        return Reason(
            signal,
            "unknown",
            "use",
            f"{name} could not be read ({status}); ignored (on_error = 'ignore')",
            file.sha256,
        )
    if not file.ok:
        return Reason(
            signal,
            "unknown",
            "use",
            f"no {name} (HTTP {file.status}): the site does not publish one",
            file.sha256,
        )
    return None


def cut_reason(
    signal: str, name: str, file: FetchedFile, section: FileSignalPolicy, cap: int
) -> Reason | None:
    """A reason when the file was cut at the crawler's byte cap and what was read does not
    parse: that is a file we could not read (``on_error``), not a file the site got wrong."""
    if len(file.body) <= cap:
        return None
    refuse = section.on_error == "refuse"
    how = "refused because on_error = 'refuse'" if refuse else "ignored (on_error = 'ignore')"
    return Reason(
        signal,
        "error" if refuse else "unknown",
        "use",
        f"{name} is larger than the {cap:,}-byte cap and its first {cap:,} bytes do not "
        f"parse, so it could not be read; {how}",
        file.sha256,
    )
