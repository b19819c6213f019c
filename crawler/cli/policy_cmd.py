"""``consent-crawler policy validate|keys``: check policy files; print the key reference."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from typing import Any

from crawler.core import Policy, PolicyError, load_policy
from crawler.core.policy import SECTION_DOCS

from ._common import policy_path, policy_warnings


def register(sub: Any) -> None:
    parser = sub.add_parser("policy", help="validate policy files, list policy keys")
    inner = parser.add_subparsers(dest="policy_command", required=True, metavar="COMMAND")
    validate = inner.add_parser(
        "validate",
        help="validate policy files; exit 1 on any error",
        description="Validate each policy FILE (or bundled name). "
        "Errors name the file, line and key path; exit 1 on any.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(func=run_validate)
    keys = inner.add_parser("keys", help="print every policy key with its default and effect")
    keys.set_defaults(func=run_keys)


def run_validate(args: argparse.Namespace) -> int:
    failed = False
    for arg in args.files:
        path = policy_path(arg)
        try:
            policy = load_policy(path)
        except PolicyError as exc:
            failed = True
            for issue in exc.issues:
                print(f"error: {issue}", file=sys.stderr)
            continue
        print(f"{path}: ok (policy {policy.name!r}, sha256 {policy.sha256})")
        for warning in policy_warnings(policy):
            print(f"{path}: warning: {warning}")
    return 1 if failed else 0


def run_keys(args: argparse.Namespace) -> int:
    sys.stdout.write(keys_markdown())
    return 0


def keys_markdown() -> str:
    """The policy reference table, generated from the schema (pasted into the README)."""
    rows = ["| key | default | effect |", "| --- | --- | --- |"]
    rows += _rows(Policy, "")
    return "\n".join(rows) + "\n"


def _rows(cls: type, prefix: str) -> list[str]:
    out: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            doc = SECTION_DOCS.get(f.name, "")
            out.append(f"| **`[{f.name}]`** | | {doc} |")
            out += _rows(tp, f"{f.name}.")  # type: ignore[arg-type]
            continue
        default = f.default
        shown = "[]" if default == () else repr(default).replace("'", '"')
        if isinstance(default, tuple) and default:
            shown = "[" + ", ".join(f'"{d}"' for d in default) + "]"
        if isinstance(default, bool):
            shown = str(default).lower()
        doc = f.metadata["doc"]
        if f.metadata.get("choices") and not isinstance(default, tuple):
            doc += " One of: " + ", ".join(f"`{c}`" for c in f.metadata["choices"]) + "."
        out.append(f"| `{prefix}{f.name}` | `{shown}` | {doc} |")
    return out
