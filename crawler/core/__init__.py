"""The pure decision core: evidence + policy → decision.

No Scrapy, Twisted, boto3 or network library is imported here (a test enforces it), so the
crawler, ``check``, ``decide``, replay and purge all run exactly this code.
"""

from ._policy_load import PolicyError, PolicyIssue, load_policy, policy_from_mapping
from .decide import decide, refused_before_fetch
from .decision import SIGNALS, Decision, Reason
from .evidence import (
    SIGNAL_HEADERS,
    EmbeddedDocument,
    Evidence,
    EvidenceError,
    FetchedFile,
    Headers,
    RegistryAnswer,
)
from .freshness import file_ttl, is_fresh
from .policy import Policy

__all__ = [
    "SIGNALS",
    "SIGNAL_HEADERS",
    "Decision",
    "EmbeddedDocument",
    "Evidence",
    "EvidenceError",
    "FetchedFile",
    "Headers",
    "Policy",
    "PolicyError",
    "PolicyIssue",
    "Reason",
    "RegistryAnswer",
    "decide",
    "file_ttl",
    "is_fresh",
    "load_policy",
    "policy_from_mapping",
    "refused_before_fetch",
]
