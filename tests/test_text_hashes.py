"""The writer's shortcut for html_sha256: a noted hash is used only for the very text noted."""

from __future__ import annotations

import hashlib

from crawler.store.text_hashes import MAX_NOTES, TextHashes


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_text_that_encodes_to_the_body_takes_the_bodys_hash_once() -> None:
    body = "<p>caf\u00e9</p>".encode()
    text = body.decode("utf-8")
    hashes = TextHashes()
    hashes.note_if_body(text, body, _sha(body))
    assert hashes.take(text) == _sha(text.encode("utf-8"))
    assert hashes.take(text) is None  # taken: the next item of this text is hashed anew


def test_a_text_decoded_from_another_encoding_is_not_noted() -> None:
    body = "<p>caf\u00e9</p>".encode("latin-1")
    text = body.decode("latin-1")
    hashes = TextHashes()
    hashes.note_if_body(text, body, _sha(body))
    assert hashes.take(text) is None


def test_an_equal_but_other_string_does_not_take_the_note() -> None:
    body = b"<p>" + b"x" * 100 + b"</p>"
    noted = body.decode()
    hashes = TextHashes()
    hashes.note_if_body(noted, body, _sha(body))
    replaced = "".join(["<p>", "x" * 100, "</p>"])  # what a pipeline may have put in its place
    assert replaced == noted and replaced is not noted
    assert hashes.take(replaced) is None
    assert hashes.take(noted) == _sha(body)


def test_notes_never_taken_are_dropped_oldest_first() -> None:
    hashes = TextHashes()
    texts = [f"<p>{i}</p>" for i in range(MAX_NOTES + 10)]
    for text in texts:
        hashes.note_if_body(text, text.encode(), _sha(text.encode()))
    assert hashes.take(texts[0]) is None
    assert hashes.take(texts[-1]) == _sha(texts[-1].encode())
    assert len(hashes._notes) == MAX_NOTES - 1
