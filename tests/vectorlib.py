"""Loading the signal test-vector corpus (tests/vectors/*.toml) and checking answers."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from crawler.core import Policy, policy_from_mapping
from crawler.core._policy_load import merge_tables

ROOT = Path(__file__).resolve().parents[1]
VECTOR_DIR = Path(__file__).parent / "vectors"
DEFAULT_TOKEN = "ConsentBot"


def load_vectors() -> list[dict[str, Any]]:
    vectors = []
    for path in sorted(VECTOR_DIR.glob("*.toml")):
        with path.open("rb") as fh:
            for vector in tomllib.load(fh).get("vector", []):
                vector["_file"] = path.name
                vectors.append(vector)
    return vectors


def policy_table(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The policy as one table: default.toml, then opt-in.toml's keys, then the overrides."""
    with (ROOT / "policies" / "default.toml").open("rb") as fh:
        data = tomllib.load(fh)
    if name == "opt-in":
        with (ROOT / "policies" / "opt-in.toml").open("rb") as fh:
            extra = tomllib.load(fh)
        extra.pop("extends", None)
        data = merge_tables(data, extra)
    return merge_tables(data, overrides)


def policy_for(vector: dict[str, Any]) -> Policy:
    data = policy_table(vector.get("policy", "default"), vector.get("policy_overrides", {}))
    name = data.pop("name", "vector")
    return policy_from_mapping(data, name=name)


def policy_key(vector: dict[str, Any]) -> str:
    return json.dumps(
        [vector.get("policy", "default"), vector.get("policy_overrides", {})], sort_keys=True
    )


def to_toml(table: dict[str, Any]) -> str:
    """Write a policy table as TOML (values are strings, numbers, booleans, string lists)."""
    lines: list[str] = []
    tables = {k: v for k, v in table.items() if isinstance(v, dict)}
    for key, value in table.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {_toml_value(value)}")
    for name, inner in tables.items():
        lines.append(f"\n[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in inner.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def decide_input(vector: dict[str, Any]) -> dict[str, Any]:
    line = dict(vector["input"])
    line.setdefault("token", DEFAULT_TOKEN)
    return line


def _matches(reason: dict[str, Any], matcher: dict[str, Any]) -> bool:
    for key, want in matcher.items():
        if key == "detail":
            if want.lower() not in reason.get("detail", "").lower():
                return False
        elif reason.get(key) != want:
            return False
    return True


def check(answer: dict[str, Any], vector: dict[str, Any]) -> list[str]:
    """Every way ``answer`` differs from the vector's expectations (empty when it agrees)."""
    problems = []
    for key, want in vector["expect"].items():
        if answer.get(key) != want:
            problems.append(f"{key}: expected {want!r}, got {answer.get(key)!r}")
    reasons = answer.get("reasons", [])
    for matcher in vector.get("reasons", []):
        if not any(_matches(r, matcher) for r in reasons):
            problems.append(f"missing reason {matcher}")
    for matcher in vector.get("no_reasons", []):
        hits = [r for r in reasons if _matches(r, matcher)]
        if hits:
            problems.append(f"unexpected reason {hits[0]}")
    if problems:
        problems.append("reasons were: " + json.dumps(reasons, indent=1, ensure_ascii=False))
    return problems
