"""The decision core imports no Scrapy, Twisted, boto3 or network library (issue #2)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "crawler" / "core"
FORBIDDEN = (
    "scrapy",
    "twisted",
    "boto3",
    "botocore",
    "s3transfer",
    "requests",
    "urllib3",
    "aiohttp",
    "httpx",
    "socket",
    "ssl",
    "http.client",
    "urllib.request",
    "asyncio",
)
ALLOWED_THIRD_PARTY = {"lxml", "http_sfv"}


def test_importing_the_core_loads_no_network_or_crawler_module() -> None:
    code = "import sys, crawler.core; print('\\n'.join(sorted(sys.modules)))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    bad = sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert bad == []


def test_core_sources_import_only_stdlib_lxml_and_http_sfv() -> None:
    for path in CORE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (
                    f"{path.name} imports {name}"
                )
                assert not any(name == f or name.startswith(f + ".") for f in FORBIDDEN), (
                    f"{path.name} imports {name}"
                )
