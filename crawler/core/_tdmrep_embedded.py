"""TDMRep carried inside a document: EPUB 2/3 package metadata and PDF XMP (TDMRep §EPUB, §PDF).

Reading is defensive: sizes are capped, XML is parsed without network access or entity
expansion, and anything unreadable simply carries no value.
"""

from __future__ import annotations

import io
import lzma
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import lxml.etree

_MAX_XML = 2 * 1024 * 1024
_OPF_NS = "http://www.idpf.org/2007/opf"
_CONTAINER_NS = "urn:oasis:names:tc:opendocument:xmlns:container"
_XMP_NS = "http://www.w3.org/ns/tdmrep/"
# Everything a damaged or hostile archive can raise while being read: it then carries no value.
_UNREADABLE = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    KeyError,
    lxml.etree.XMLSyntaxError,
    ValueError,
    OSError,
    EOFError,
    RuntimeError,
    NotImplementedError,
    zlib.error,
    lzma.LZMAError,
)
_XMP_OPEN, _XMP_CLOSE = b"<x:xmpmeta", b"</x:xmpmeta>"
_WORD = re.compile(rb"\w")  # what ends a tag name: "<x:xmpmetadata" is another element


@dataclass(frozen=True, slots=True)
class EmbeddedTdm:
    reservation: str | None  # the raw value found, if any
    policy: str | None
    where: str


def _parser() -> lxml.etree.XMLParser:
    return lxml.etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def read(content_type: str, body: bytes) -> EmbeddedTdm | None:
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/epub+zip" or body[:4] == b"PK\x03\x04":
        return _from_epub(body)
    if kind == "application/pdf" or body[:5] == b"%PDF-":
        return _from_pdf(body)
    return None


def _from_epub(body: bytes) -> EmbeddedTdm | None:
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            container = lxml.etree.fromstring(
                _read_member(archive, "META-INF/container.xml"), _parser()
            )
            rootfile = container.find(f".//{{{_CONTAINER_NS}}}rootfile")
            if rootfile is None or not rootfile.get("full-path"):
                return None
            opf_path = rootfile.get("full-path", "")
            opf = lxml.etree.fromstring(_read_member(archive, opf_path), _parser())
    except _UNREADABLE:
        return None
    reservation = policy = None
    for meta in opf.iter(f"{{{_OPF_NS}}}meta", "meta"):
        name = (meta.get("name") or meta.get("property") or "").strip().lower()
        value = meta.get("content") if meta.get("name") else (meta.text or "")
        if name == "tdm:reservation":
            reservation = (value or "").strip()
        elif name == "tdm:policy":
            policy = (value or "").strip() or None
    if reservation is None:
        return None
    return EmbeddedTdm(reservation, policy, f"EPUB package metadata ({opf_path})")


def _read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > _MAX_XML:
        raise ValueError(f"{name} is larger than {_MAX_XML} bytes")
    with archive.open(info) as member:
        return member.read(_MAX_XML + 1)[:_MAX_XML]


def xmp_packets(data: bytes) -> Iterator[bytes]:
    """Every ``<x:xmpmeta …>…</x:xmpmeta>`` packet, in order, found with ``bytes.find``.

    Linear: once a packet has no closing tag, no later one can have one either.  (The lazy
    regex ``<x:xmpmeta\\b.*?</x:xmpmeta>`` rescanned the rest of the file from every unclosed
    opening tag: quadratic, a minute for a hostile 400 KiB PDF.)
    """
    start = data.find(_XMP_OPEN)
    while start >= 0:
        after = start + len(_XMP_OPEN)
        if _WORD.match(data, after):
            start = data.find(_XMP_OPEN, after)
            continue
        end = data.find(_XMP_CLOSE, after)
        if end < 0:
            return
        end += len(_XMP_CLOSE)
        yield data[start:end]
        start = data.find(_XMP_OPEN, end)


def _from_pdf(body: bytes) -> EmbeddedTdm | None:
    for packet in xmp_packets(body[: 64 * 1024 * 1024]):
        try:
            root = lxml.etree.fromstring(packet[:_MAX_XML], _parser())
        except lxml.etree.XMLSyntaxError:
            continue
        reservation = _xmp_property(root, "reservation")
        if reservation is not None:
            return EmbeddedTdm(reservation, _xmp_property(root, "policy"), "PDF XMP metadata")
    return None


def _xmp_property(root: lxml.etree._Element, name: str) -> str | None:
    """An XMP property, written as an element or as an attribute of rdf:Description."""
    qualified = f"{{{_XMP_NS}}}{name}"
    for element in root.iter(qualified):
        return (element.text or "").strip()
    for element in root.iter():
        value = element.get(qualified)
        if value is not None:
            return value.strip()
    return None
