"""Load policy TOML files: ``extends`` chains, validation against the schema, located errors."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
import tomllib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ._allow_entries import allow_entry_error
from .policy import Policy

_MAX_EXTENDS = 8


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    file: str
    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class PolicyError(ValueError):
    """A policy could not be loaded; ``issues`` lists every problem found, each located."""

    def __init__(self, issues: list[PolicyIssue]) -> None:
        super().__init__("\n".join(str(i) for i in issues))
        self.issues = issues


def load_policy(path: str | Path) -> Policy:
    """Load and validate a policy file (following ``extends``); raises PolicyError."""
    chain = _read_chain(Path(path))
    merged: dict[str, Any] = {}
    for _, _, data in reversed(chain):
        merged = merge_tables(merged, data)
    own_path, own_text, own_data = chain[0]
    merged["name"] = own_data.get("name", own_path.stem)
    merged.pop("extends", None)
    issues: list[PolicyIssue] = []
    located = _Locator(chain)
    policy = _build(Policy, merged, "", issues, located)
    issues.extend(_cross_checks(policy, located))
    if issues:
        raise PolicyError(issues)
    if len(chain) == 1:
        text = own_text
    else:
        # The policy in force is the whole chain: record every file's text, nearest first.
        text = "".join(f"# ---- {p.name} ----\n{t}\n" for p, t, _ in chain)
    assert isinstance(policy, Policy)
    return policy.replace(
        text=text, sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), source=str(own_path)
    )


def policy_from_mapping(data: dict[str, Any], *, name: str = "inline") -> Policy:
    """Build a policy from an already-parsed table (tests, overrides); raises PolicyError."""
    issues: list[PolicyIssue] = []
    located = _Locator([])
    policy = _build(Policy, {"name": name, **data}, "", issues, located)
    issues.extend(_cross_checks(policy, located))
    if issues:
        raise PolicyError(issues)
    assert isinstance(policy, Policy)
    return policy


def _read_chain(path: Path) -> list[tuple[Path, str, dict[str, Any]]]:
    chain: list[tuple[Path, str, dict[str, Any]]] = []
    seen: set[Path] = set()
    current: Path | None = path
    while current is not None:
        resolved = current.resolve()
        if resolved in seen:
            raise PolicyError([PolicyIssue(str(current), "extends", "extends loops back here")])
        if len(chain) >= _MAX_EXTENDS:
            raise PolicyError([PolicyIssue(str(current), "extends", "extends chain too deep")])
        seen.add(resolved)
        try:
            text = current.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError([PolicyIssue(str(current), "", f"cannot read file: {exc}")]) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line = _decode_error_line(exc)
            raise PolicyError(
                [PolicyIssue(str(current), "", f"not valid TOML: {exc}", line)]
            ) from None
        chain.append((current, text, data))
        parent = data.get("extends")
        if parent is None or parent == "":
            current = None
        elif not isinstance(parent, str):
            raise PolicyError([PolicyIssue(str(current), "extends", "must be a file path string")])
        else:
            current = (current.parent / parent) if not Path(parent).is_absolute() else Path(parent)
    return chain


def _decode_error_line(exc: tomllib.TOMLDecodeError) -> int | None:
    lineno = getattr(exc, "lineno", None)  # Python ≥ 3.14 exposes it; parse the message before
    if isinstance(lineno, int):
        return lineno
    found = re.search(r"at line (\d+)", str(exc))
    return int(found.group(1)) if found else None


def merge_tables(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over``'s keys replace ``base``'s, tables merged recursively (``extends``)."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge_tables(out[k], v)
        else:
            out[k] = v
    return out


class _Locator:
    """Finds which file of an extends chain sets a key, and on which line (best effort)."""

    def __init__(self, chain: list[tuple[Path, str, dict[str, Any]]]) -> None:
        self.chain = chain

    def __call__(self, keypath: str) -> tuple[str, int | None]:
        for path, text, data in self.chain:
            if _has_key(data, keypath.split(".")):
                return str(path), _line_of(text, keypath)
        if self.chain:
            return str(self.chain[0][0]), None
        return "<policy>", None


def _has_key(data: Any, parts: list[str]) -> bool:
    for part in parts:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


_TABLE = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-\s\"]+?)\s*\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_.\-\s\"]+?)\s*=")


def _line_of(text: str, keypath: str) -> int | None:
    """The line that assigns ``keypath`` (or its nearest parent), scanning tables and keys."""
    best: tuple[int, int] | None = None  # (matched depth, line)
    table: list[str] = []
    want = keypath.split(".")
    for lineno, line in enumerate(text.splitlines(), start=1):
        if m := _TABLE.match(line):
            table = [p.strip().strip('"') for p in m.group(1).split(".")]
            full = table
        elif m := _ASSIGN.match(line):
            full = table + [p.strip().strip('"') for p in m.group(1).split(".")]
        else:
            continue
        depth = 0
        for a, b in zip(full, want, strict=False):
            if a != b:
                break
            depth += 1
        if depth == len(full) and depth > 0 and (best is None or depth > best[0]):
            best = (depth, lineno)
    return None if best is None else best[1]


def _build(cls: type, data: Any, prefix: str, issues: list[PolicyIssue], locate: _Locator) -> Any:
    def report(keypath: str, message: str) -> None:
        file, line = locate(keypath)
        issues.append(PolicyIssue(file, keypath, message, line))

    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    if not isinstance(data, dict):
        report(prefix.rstrip("."), f"must be a table, got {type(data).__name__}")
        return cls()
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        keypath = f"{prefix}{name}"
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            where = f"[{prefix[:-1]}]" if prefix else "the top level"
            report(keypath, f"unknown key{hint} (keys allowed in {where}: {', '.join(fields)})")
            continue
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, keypath + ".", issues, locate)  # type: ignore[arg-type]
            continue
        checked = _check_value(tp, value, fields[name].metadata)
        if isinstance(checked, _Bad):
            report(keypath, checked.message)
        else:
            kwargs[name] = checked
    return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class _Bad:
    message: str


def _check_value(tp: Any, value: Any, meta: Any) -> Any:
    if tp is bool:
        return value if isinstance(value, bool) else _Bad(f"expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return _Bad(f"expected an integer, got {value!r}")
        return _check_range(value, meta)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _Bad(f"expected a number, got {value!r}")
        return _check_range(float(value), meta)
    if tp is str:
        if not isinstance(value, str):
            return _Bad(f"expected a string, got {value!r}")
        return _check_text(value, meta)
    # tuple[str, ...]
    if not isinstance(value, list):
        return _Bad(f"expected a list of strings, got {value!r}")
    out = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            return _Bad(f"item {index + 1}: expected a string, got {item!r}")
        checked = _check_text(item, meta)
        if isinstance(checked, _Bad):
            return _Bad(f"item {index + 1}: {checked.message}")
        out.append(checked)
    return tuple(out)


def _check_range(value: float, meta: Any) -> Any:
    low, high = meta.get("min"), meta.get("max")
    if low is not None and value < low:
        return _Bad(f"{value!r} is below the minimum {low!r}")
    if high is not None and value > high:
        return _Bad(f"{value!r} is above the maximum {high!r}")
    return value


def _check_text(value: str, meta: Any) -> Any:
    choices = meta.get("choices")
    if choices and value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        return _Bad(f"{value!r} is not allowed; expected one of {allowed}")
    pattern = meta.get("pattern")
    if pattern and value and not re.fullmatch(pattern, value):
        return _Bad(f"{value!r} does not match the allowed form {pattern}")
    return value


def _cross_checks(policy: Policy, locate: _Locator) -> list[PolicyIssue]:
    issues: list[PolicyIssue] = []

    def report(keypath: str, message: str) -> None:
        file, line = locate(keypath)
        issues.append(PolicyIssue(file, keypath, message, line))

    ident = policy.identity
    if ident.token.lower() not in ident.user_agent.lower():
        report("identity.user_agent", f"must contain the product token {ident.token!r}")
    if ident.contact_url not in ident.user_agent:
        report("identity.user_agent", f"must contain the contact URL {ident.contact_url!r}")
    reg = policy.registry
    if reg.enabled and not (reg.url or reg.file):
        report("registry.enabled", "registry is enabled but neither 'url' nor 'file' is set")
    if reg.url and not re.match(r"https?://", reg.url):
        report("registry.url", f"{reg.url!r} is not an http(s) URL")
    if reg.auth_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", reg.auth_env):
        report("registry.auth_env", f"{reg.auth_env!r} is not an environment variable name")
    if reg.url and "@" in (urlsplit(reg.url).netloc or ""):
        # The policy's text is recorded in every manifest: a password here would be too.
        report("registry.url", "must not carry user:password; name the key in registry.auth_env")
    for number, entry in enumerate(policy.network.allow, start=1):
        message = allow_entry_error(number, entry)
        if message is not None:
            report("network.allow", message)
    return issues
