"""signals.md §12 vectors (RB, AP, CS, TD, NA, AT, XS), each its own test named after its id.

Every vector runs twice: through the pure core, and through the real ``consent-crawler
decide`` console script (one process per policy variant, answers checked per vector).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from crawler.core import Evidence, decide
from tests.vectorlib import (
    check,
    decide_input,
    load_vectors,
    policy_for,
    policy_key,
    policy_table,
    to_toml,
)

VECTORS = load_vectors()
IDS = [v["id"] for v in VECTORS]
FAMILIES = ("RB", "AP", "CS", "TD", "NA", "AT", "XS")


def test_corpus_is_whole() -> None:
    assert len(IDS) == len(set(IDS)), "vector ids must be unique"
    for vector in VECTORS:
        assert vector["expect"].keys() >= {"fetch", "use"}, vector["id"]
        assert vector.get("reasons"), f"{vector['id']} names no deciding reason"
    families = {i.split("-")[0] for i in IDS}
    assert families == set(FAMILIES)


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_vector(vector: dict[str, Any]) -> None:
    answer = decide(Evidence.from_json(decide_input(vector)), policy_for(vector)).to_dict()
    problems = check(answer, vector)
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def cli_answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Run every vector through the console script, grouped by policy variant."""
    exe = shutil.which("consent-crawler")
    assert exe, "the consent-crawler console script is not installed"
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for vector in VECTORS:
        groups[policy_key(vector)].append(vector)
    answers: dict[str, dict[str, Any]] = {}
    folder: Path = tmp_path_factory.mktemp("policies")
    for index, (key, vectors) in enumerate(groups.items()):
        name, overrides = json.loads(key)
        policy_file = folder / f"policy{index}.toml"
        policy_file.write_text(to_toml(policy_table(name, overrides)), encoding="utf-8")
        stdin = "".join(json.dumps(decide_input(v)) + "\n" for v in vectors)
        done = subprocess.run(
            [exe, "decide", "--policy", str(policy_file)],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert len(lines) == len(vectors), "one answer line per input line"
        for vector, line in zip(vectors, lines, strict=True):
            answers[vector["id"]] = json.loads(line)
    return answers


@pytest.mark.parametrize("vector", VECTORS, ids=IDS)
def test_vector_via_console_script(vector: dict[str, Any], cli_answers: dict[str, Any]) -> None:
    answer = cli_answers[vector["id"]]
    assert answer["url"] == vector["input"]["url"]
    problems = check(answer, vector)
    assert not problems, "\n".join(problems)
