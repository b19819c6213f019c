"""robots.txt parsing and matching per RFC 9309, shared by robots.txt and Spawning ai.txt.

Group selection follows the RFC and Google's reference parser: a ``User-agent`` value is cut at
the first character outside ``[A-Za-z_-]`` and compared for case-insensitive equality with the
product token (no substring matching, unlike Protego); groups naming the same token are merged;
the ``*`` group applies only when no group names the token.  Besides Allow/Disallow, each group
keeps its aipref ``Content-Usage`` and Cloudflare ``Content-Signal`` lines.

Parsing is the hot path of ``decide`` on files it has not seen, so it is done in two steps:
one regular expression finds every record (C speed) and the runs of user-agent lines are
indexed; a group's rules are only built, with comprehensions, when that group is consulted.
A file typically has many groups and a decision reads two or three of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress
from operator import itemgetter

from ._patterns import matches, normalise_pattern, plain_pattern

# Field kinds, and field names (lower case) as Google's parser accepts them, including its
# tolerated misspellings.
_AGENT, _ALLOW, _DISALLOW, _USAGE, _SIGNAL = 1, 2, 3, 4, 5
_FIELDS = {
    "user-agent": _AGENT,
    "useragent": _AGENT,
    "user_agent": _AGENT,
    "user agent": _AGENT,
    "user\tagent": _AGENT,
    "allow": _ALLOW,
    "disallow": _DISALLOW,
    "dissallow": _DISALLOW,
    "dissalow": _DISALLOW,
    "disalow": _DISALLOW,
    "diasllow": _DISALLOW,
    "disallaw": _DISALLOW,
    "content-usage": _USAGE,
    "content-signal": _SIGNAL,
}
_MEMBERS = frozenset({_ALLOW, _DISALLOW, _USAGE, _SIGNAL})  # records that belong to a group
_RULES = frozenset({_ALLOW, _DISALLOW})
# One record per line: field name, optional blanks, a colon (or, as Google tolerates, only
# blanks), then the value up to a comment or the end of the line.  The value is captured in
# two parts: a literal prefix (printable ASCII up to the first "*", "$", "%", "#" or blank),
# which is always a prefix of the normalised pattern's literal text, and the rest.  Rules are
# pre-filtered by that prefix, so no per-record Python work is needed to compute it.
_RECORD = re.compile(
    r"^[ \t]*([A-Za-z_-]+(?:[ \t][Aa][Gg][Ee][Nn][Tt](?=[ \t]*:))?)"  # "user agent:" is tolerated
    r"(?:[ \t]*:|[ \t]+(?=[^ \t#\n]+[ \t]*(?:#|$)))[ \t]*"  # no colon: exactly two words
    r"([!\"&-)+-~]*)([^#\n]*)",
    re.MULTILINE,
)
_TOKEN = re.compile(r"[A-Za-z_-]*")
_FIELD = itemgetter(0)
_PREFIX = itemgetter(1)

# A rule is a plain ``(pattern, allow, record)`` tuple, files may hold thousands of them;
# ``record`` is the index of its line among the file's records (see RobotsFile.line_of).
Rule = tuple[str, bool, int]


@dataclass(frozen=True, slots=True)
class Line:
    """A non-access record kept with its group: ``Content-Usage`` or ``Content-Signal``."""

    value: str
    record: int


class Group:
    """The merged groups that apply to one user agent: a view over runs of the parsed file.

    It holds the file's lists, not the file, so the file's group cache makes no reference
    cycle: an evicted file is freed at once instead of waiting for the cyclic collector.
    """

    __slots__ = ("_kinds", "_lines_of", "_prefixes", "_records", "_spans", "agents")

    def __init__(self, robots: RobotsFile, run_ids: list[int]) -> None:
        self._records, self._kinds, self._prefixes = robots.records, robots.kinds, robots.prefixes
        runs = [robots.runs[i] for i in run_ids]
        self._spans = [(run.start, run.end) for run in runs]
        self.agents = [agent for run in runs for agent in run.agents]
        self._lines_of: dict[int, list[Line]] = {}  # asked for every URL: worked out once

    def longest_match(self, path: str) -> Rule | None:
        """The matching rule with the longest pattern; on a tie an Allow wins (RFC 9309).

        A rule can only match if its literal prefix (the text before any ``*``) starts the
        path; ``compress(map(path.startswith, …))`` finds those in C, so a group of thousands
        of rules costs microseconds and only the few candidates are examined in Python.
        """
        prefixes, kinds, records = self._prefixes, self._kinds, self._records
        best: Rule | None = None
        best_length = -1
        for start, end in self._spans:
            for i in compress(range(start, end), map(path.startswith, prefixes[start:end])):
                kind = kinds[i]
                if kind != _ALLOW and kind != _DISALLOW:
                    continue
                pattern = rule_pattern(records[i])
                if not pattern:
                    continue  # an empty pattern matches nothing
                allow = kind == _ALLOW
                length = len(pattern)
                if length < best_length or (length == best_length and (best[1] or not allow)):  # type: ignore[index]
                    continue
                if matches(pattern, path):
                    best, best_length = (pattern, allow, i), length
        return best

    def _lines(self, kind: int) -> list[Line]:
        found = self._lines_of.get(kind)
        if found is None:
            kinds, records = self._kinds, self._records
            found = self._lines_of[kind] = [
                Line(record_value(records[i]), i)
                for start, end in self._spans
                for i in range(start, end)
                if kinds[i] == kind
            ]
        return found

    @property
    def usages(self) -> list[Line]:
        return self._lines(_USAGE)

    @property
    def signals(self) -> list[Line]:
        return self._lines(_SIGNAL)

    def label(self) -> str:
        return "User-agent: " + ", ".join(dict.fromkeys(self.agents))


@dataclass(frozen=True, slots=True)
class _Run:
    """A run of consecutive user-agent lines and the span of records that follows it."""

    agents: tuple[str, ...]
    start: int
    end: int


@dataclass(slots=True)
class RobotsFile:
    """A parsed robots-syntax file.

    Runs are indexed by the RFC product token (lower case, cut at the first character outside
    ``[A-Za-z_-]``) and by the whole product name as written (lower case, cut at ``/``), which is
    how the AI-bot list is matched, since names such as ``AI2Bot`` are not RFC tokens.
    """

    text: str
    records: list[tuple[str, str, str]]  # (field, literal prefix, rest of the value)
    kinds: list[int | None]  # each record's field kind (None: a field we do not read)
    prefixes: list[str]  # each record's literal prefix (see _RECORD)
    runs: list[_Run]
    by_token: dict[str, list[int]]
    by_name: dict[str, list[int]]
    star: list[int]
    truncated_at: int | None = None
    _groups: dict[object, Group | None] = field(default_factory=dict)
    _lists: dict[object, list[tuple[str, Group]]] = field(default_factory=dict)
    _lines: list[int] | None = None

    def group_for(self, token: str) -> tuple[Group | None, bool]:
        """The group that applies to ``token`` and whether it is the token's own group."""
        own = self._group(("token", token.lower()), self.by_token.get(token.lower()))
        if own is not None:
            return own, True
        return self.star_group, False

    @property
    def star_group(self) -> Group | None:
        return self._group("*", self.star)

    def named_group(self, name: str) -> Group | None:
        """The group written for a product name (as the AI-bot list names them)."""
        key = product_name(name)
        runs = self.by_name.get(key) or self.by_token.get(key)
        return self._group(("name", key), runs)

    def named_groups(self, names: tuple[str, ...]) -> list[tuple[str, Group]]:
        """The groups present for a list of product names, worked out once per list: a
        policy names dozens of AI bots, a file usually has a few of them."""
        key = ("names", names)
        found = self._lists.get(key)
        if found is None:
            found = [
                (name, group) for name in names if (group := self.named_group(name)) is not None
            ]
            self._lists[key] = found
        return found

    def _group(self, key: object, run_ids: list[int] | None) -> Group | None:
        if not run_ids:
            return None
        try:
            return self._groups[key]
        except KeyError:
            group = self._groups[key] = Group(self, run_ids)
            return group

    def line_of(self, record: int) -> int:
        """The 1-based line number of a record, worked out only when a detail needs it."""
        if self._lines is None:
            lines, line, pos = [], 1, 0
            for match in _RECORD.finditer(self.text):
                line += self.text.count("\n", pos, match.start())
                pos = match.start()
                lines.append(line)
            self._lines = lines
        return self._lines[record] if 0 <= record < len(self._lines) else 0

    def describe(self, rule: Rule) -> str:
        return f"{'Allow' if rule[1] else 'Disallow'}: {rule[0]} (line {self.line_of(rule[2])})"


def record_value(record: tuple[str, str, str]) -> str:
    return (record[1] + record[2]).rstrip(" \t")  # ASCII blanks only, as Google strips


def rule_pattern(record: tuple[str, str, str]) -> str:
    """A rule record's normalised pattern ("" for an empty rule, which matches nothing)."""
    value = (record[1] + record[2]).rstrip(" \t")
    return value if plain_pattern(value) else normalise_pattern(value)


@lru_cache(maxsize=4096)
def product_token(value: str) -> str:
    """Google's ``ExtractUserAgent``: the leading run of ``[A-Za-z_-]``, lower-cased."""
    found = _TOKEN.match(value)
    return found.group(0).lower() if found else ""


@lru_cache(maxsize=4096)
def product_name(value: str) -> str:
    """The product name as written: up to ``/``, whitespace folded, lower-cased."""
    return " ".join(value.split("/", 1)[0].split()).lower()


def decode_body(body: bytes, max_bytes: int) -> tuple[str, int | None]:
    """Decode at most ``max_bytes`` of a body (RFC 9309 §2.5); returns text and cut offset."""
    cut: int | None = None
    if len(body) > max_bytes:
        body = body[:max_bytes]
        cut = max_bytes
    text = body.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, cut


def parse(body: bytes, max_bytes: int) -> RobotsFile:
    """Parse a robots-syntax body; unparseable lines are skipped, never fatal."""
    text, cut = decode_body(body, max_bytes)
    records: list[tuple[str, str, str]] = _RECORD.findall(text)
    # Classify every record once, with C-level maps: this runs for every line of every file.
    kinds: list[int | None] = list(map(_FIELDS.get, map(str.lower, map(_FIELD, records))))
    prefixes: list[str] = list(map(_PREFIX, records))
    agent_at = [i for i, kind in enumerate(kinds) if kind == _AGENT]
    runs: list[_Run] = []
    by_token: dict[str, list[int]] = {}
    by_name: dict[str, list[int]] = {}
    star: list[int] = []
    count = len(agent_at)
    k = 0
    while k < count:
        first = last = agent_at[k]
        # A run continues while no group record (rule, Content-Usage…) separates two agents;
        # Sitemap and other records neither end nor join a group (RFC 9309 §2.2.4).
        while k + 1 < count and not _has_member(kinds[last + 1 : agent_at[k + 1]]):
            k += 1
            last = agent_at[k]
        end = agent_at[k + 1] if k + 1 < count else len(records)
        if first == last:  # the common case: one user-agent line
            agents: tuple[str, ...] = (record_value(records[first]),)
        else:
            agents = tuple(
                record_value(records[i]) for i in range(first, last + 1) if kinds[i] == _AGENT
            )
        run_id = len(runs)
        runs.append(_Run(agents, last + 1, end))
        for agent in agents:
            _index(agent, run_id, by_token, by_name, star)
        k += 1
    return RobotsFile(text, records, kinds, prefixes, runs, by_token, by_name, star, cut)


def _has_member(kinds: list[int | None]) -> bool:
    return bool(kinds) and (
        _ALLOW in kinds or _DISALLOW in kinds or _USAGE in kinds or _SIGNAL in kinds
    )


def _index(
    agent: str,
    run_id: int,
    by_token: dict[str, list[int]],
    by_name: dict[str, list[int]],
    star: list[int],
) -> None:
    """File run ``run_id`` under its agent's token and name (run ids only grow, so a repeat
    within one run is the last entry)."""
    if agent == "*" or (agent[:1] == "*" and agent[1:2] in (" ", "\t")):
        if not star or star[-1] != run_id:
            star.append(run_id)
        return
    token, name = product_token(agent), product_name(agent)
    if token:
        ids = by_token.setdefault(token, [])
        if not ids or ids[-1] != run_id:
            ids.append(run_id)
    if name and name != token:
        ids = by_name.setdefault(name, [])
        if not ids or ids[-1] != run_id:
            ids.append(run_id)
