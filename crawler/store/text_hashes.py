"""Hashes of page texts already known, so the writer need not hash them again.

An item's ``html_sha256`` is the SHA-256 of its ``html`` text as UTF-8.  Most pages are UTF-8
(or ASCII), and their text, so encoded, is exactly the response body, whose hash the consent
layer has already taken (``content_sha256``): comparing the bytes costs a tenth of hashing
them.  The provenance middleware notes such a text here; the writer takes the note only for
that very string object (strings are immutable: the same object has the same content), so a
pipeline that replaced the text in between gets its new text hashed as before.
"""

from __future__ import annotations

# Texts noted and not yet written: items a pipeline dropped leave theirs behind, so the
# oldest notes go first once there are this many.
MAX_NOTES = 256


class TextHashes:
    def __init__(self) -> None:
        self._notes: dict[int, tuple[str, str]] = {}

    def note_if_body(self, text: str, body: bytes, body_sha256: str) -> None:
        """Note ``body_sha256`` as the hash of ``text`` when the text encodes to the body."""
        if text.encode("utf-8") != body:
            return
        self._notes[id(text)] = (text, body_sha256)  # held: its id stays unique meanwhile
        if len(self._notes) > MAX_NOTES:
            del self._notes[next(iter(self._notes))]

    def take(self, text: str) -> str | None:
        """The noted hash of this very string, once; None when there is none."""
        note = self._notes.pop(id(text), None)
        if note is None or note[0] is not text:
            return None
        return note[1]
