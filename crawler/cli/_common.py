"""Helpers shared by the commands: finding and loading a policy, printing errors."""

from __future__ import annotations

import sys
from pathlib import Path

from crawler.core import Policy, PolicyError, load_policy

# Bundled policies live in the checkout's policies/ folder (the README installs editable).
BUNDLED = Path(__file__).resolve().parents[2] / "policies"
DEFAULT_POLICY = "default"


def policy_path(arg: str | None) -> Path:
    """A policy argument is a file path or the name of a bundled policy ("default", "opt-in")."""
    if arg is None:
        arg = DEFAULT_POLICY
    candidate = Path(arg)
    if candidate.exists() or candidate.suffix == ".toml" or "/" in arg:
        return candidate
    return BUNDLED / f"{arg}.toml"


def load_policy_or_exit(arg: str | None) -> Policy:
    """Load the policy, or print every located error and exit 2 (nothing has started yet)."""
    try:
        return load_policy(policy_path(arg))
    except PolicyError as exc:
        for issue in exc.issues:
            print(f"error: {issue}", file=sys.stderr)
        raise SystemExit(2) from None


def policy_warnings(policy: Policy) -> list[str]:
    """Things that validate but that an operator should not ship."""
    warnings = []
    if ".example" in policy.identity.contact_url:
        warnings.append(
            f"identity.contact_url {policy.identity.contact_url!r} is a placeholder; set your "
            "own so site owners can reach you"
        )
    return warnings
