"""Write the starting corpus of every fuzz target from the project's own test vectors.

``python fuzz/make_seeds.py`` fills ``fuzz/corpus/<target>/`` (git-ignored; libFuzzer adds the
inputs it finds interesting there) with one seed per relevant vector of ``tests/vectors/*.toml``
plus a few documents built here.  Seeds are named by content hash, so running it again adds
nothing twice.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VECTORS = HERE.parent / "tests" / "vectors"
TARGETS = ("robots", "ai_txt", "tdmrep", "headers", "html_meta", "documents", "decide_json")
DOCUMENT_TYPES = ("application/pdf", "application/epub+zip")  # index = first byte (fuzz_documents)


def _body(file: dict[str, Any] | None) -> bytes:
    return str((file or {}).get("body", "")).encode("utf-8")


def _path(url: str) -> bytes:
    return url.split("/", 3)[3].encode("utf-8") if url.count("/") >= 3 else b""


def _headers(headers: dict[str, Any]) -> list[tuple[str, str]]:
    lines = []
    for name, value in headers.items():
        for line in [value] if isinstance(value, str) else value:
            lines.append((name, line))
    return lines


def seeds_from_vector(data: dict[str, Any]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {target: [] for target in TARGETS}
    out["decide_json"].append(json.dumps(data).encode("utf-8"))
    path = _path(str(data.get("url", "")))
    if "robots_txt" in data:
        token = str(data.get("token", "")).encode("utf-8")
        out["robots"].append(b"\0".join((_body(data["robots_txt"]), path, token)))
    if "ai_txt" in data:
        content_type = str(data["ai_txt"].get("content_type", "")).encode("utf-8")
        out["ai_txt"].append(b"\0".join((_body(data["ai_txt"]), path, content_type)))
    headers = _headers(data.get("headers") or {})
    if "tdmrep_json" in data:
        tdm = next((v for n, v in headers if n.lower() == "tdm-reservation"), "")
        out["tdmrep"].append(b"\0".join((_body(data["tdmrep_json"]), path, tdm.encode())))
    if headers:
        out["headers"].append("\n".join(f"{n}: {v}" for n, v in headers).encode("utf-8"))
    if data.get("html"):
        out["html_meta"].append(str(data["html"]).encode("utf-8"))
    document = data.get("document")
    if document and document.get("content_type") in DOCUMENT_TYPES:
        kind = DOCUMENT_TYPES.index(document["content_type"])
        out["documents"].append(bytes([kind]) + base64.b64decode(document.get("base64", "")))
    return out


def built_documents() -> list[bytes]:
    xmp = (
        b"%PDF-1.7\n<x:xmpmeta xmlns:x='adobe:ns:meta/' "
        b"xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' "
        b"xmlns:tdm='http://www.w3.org/ns/tdmrep/'><rdf:RDF><rdf:Description "
        b"tdm:reservation='1' tdm:policy='https://e.com/p'/></rdf:RDF></x:xmpmeta>\n%%EOF"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as epub:
        epub.writestr("mimetype", "application/epub+zip")
        epub.writestr(
            "META-INF/container.xml",
            '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
            '<rootfile full-path="OEBPS/content.opf"/></rootfiles></container>',
        )
        epub.writestr(
            "OEBPS/content.opf",
            '<package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata>'
            '<meta property="tdm:reservation">1</meta></metadata></package>',
        )
    return [b"\0" + xmp, b"\1" + buffer.getvalue()]


def main() -> int:
    seeds: dict[str, list[bytes]] = {target: [] for target in TARGETS}
    for file in sorted(VECTORS.glob("*.toml")):
        for vector in tomllib.loads(file.read_text(encoding="utf-8")).get("vector", []):
            if isinstance(vector.get("input"), dict):
                for target, found in seeds_from_vector(vector["input"]).items():
                    seeds[target] += found
    seeds["documents"] += built_documents()
    for target, found in seeds.items():
        folder = HERE / "corpus" / target
        folder.mkdir(parents=True, exist_ok=True)
        for seed in found:
            (folder / f"seed-{hashlib.sha256(seed).hexdigest()[:16]}").write_bytes(seed)
        print(f"{target}: {len(found)} seeds in {folder.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
