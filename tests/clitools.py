"""Running the real ``consent-crawler`` console script in tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def console_script() -> str:
    exe = shutil.which("consent-crawler")
    assert exe, "the consent-crawler console script is not installed (pip install -e .)"
    return exe


def run_cli(
    *args: str | Path, stdin: str = "", timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [console_script(), *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        cwd=cwd,
    )
