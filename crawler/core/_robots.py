"""robots.txt parsing and matching per RFC 9309, shared by robots.txt and Spawning ai.txt.

Group selection follows the RFC and Google's reference parser: a ``User-agent`` value is cut at
the first character outside ``[A-Za-z_-]`` and compared for case-insensitive equality with the
product token (no substring matching, unlike Protego); groups naming the same token are merged;
the ``*`` group applies only when no group names the token.  Besides Allow/Disallow, each group
keeps its aipref ``Content-Usage`` and Cloudflare ``Content-Signal`` lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._patterns import Pattern, compile_pattern

# Field names as Google's parser accepts them, including its tolerated misspellings.
_USER_AGENT = frozenset({"user-agent", "useragent", "user_agent"})
_ALLOW = frozenset({"allow"})
_DISALLOW = frozenset({"disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw"})
_CONTENT_USAGE = frozenset({"content-usage"})
_CONTENT_SIGNAL = frozenset({"content-signal"})
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-")


@dataclass(frozen=True, slots=True)
class Rule:
    allow: bool
    pattern: Pattern
    line: int

    def describe(self) -> str:
        return f"{'Allow' if self.allow else 'Disallow'}: {self.pattern.text} (line {self.line})"


@dataclass(frozen=True, slots=True)
class Line:
    """A non-access record kept with its group: ``Content-Usage`` or ``Content-Signal``."""

    value: str
    line: int


@dataclass(slots=True, eq=False)
class Group:
    """One or more merged groups for a user agent; rules are sorted for longest match."""

    agents: list[str] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    usages: list[Line] = field(default_factory=list)
    signals: list[Line] = field(default_factory=list)
    _sorted: bool = False

    def longest_match(self, path: str) -> Rule | None:
        """The matching rule with the longest pattern; on a tie an Allow wins (RFC 9309)."""
        if not self._sorted:
            # Longest first, Allow before Disallow of equal length: the first hit is the answer.
            self.rules.sort(key=lambda r: (-r.pattern.length, not r.allow))
            self._sorted = True
        for rule in self.rules:
            if rule.pattern.matches(path):
                return rule
        return None

    def label(self) -> str:
        return "User-agent: " + ", ".join(dict.fromkeys(self.agents))


@dataclass(slots=True)
class RobotsFile:
    """A parsed robots-syntax file.

    ``by_token`` is keyed by the RFC product token (lower case, cut at the first character
    outside ``[A-Za-z_-]``); ``by_name`` by the whole product name as written (lower case, cut
    at ``/``), which is how the AI-bot list is matched, since names such as ``AI2Bot`` are not
    RFC tokens.
    """

    by_token: dict[str, Group] = field(default_factory=dict)
    by_name: dict[str, Group] = field(default_factory=dict)
    star: Group | None = None
    truncated_at: int | None = None
    lines: int = 0

    def group_for(self, token: str) -> tuple[Group | None, bool]:
        """The group that applies to ``token`` and whether it is the token's own group."""
        own = self.by_token.get(token.lower())
        if own is not None:
            return own, True
        return self.star, False

    def named_group(self, name: str) -> Group | None:
        """The group written for a product name (as the AI-bot list names them)."""
        key = product_name(name)
        return self.by_name.get(key) or self.by_token.get(key)


def product_token(value: str) -> str:
    """Google's ``ExtractUserAgent``: the leading run of ``[A-Za-z_-]``, lower-cased."""
    end = 0
    for char in value:
        if char not in _TOKEN_CHARS:
            break
        end += 1
    return value[:end].lower()


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
    return text, cut


def parse(body: bytes, max_bytes: int) -> RobotsFile:
    """Parse a robots-syntax body; unparseable lines are skipped, never fatal."""
    text, cut = decode_body(body, max_bytes)
    result = RobotsFile(truncated_at=cut)
    current: list[Group] = []  # groups opened by the current run of user-agent lines
    in_agents = False  # still reading consecutive user-agent lines
    lineno = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        hash_at = raw.find("#")
        line = raw if hash_at < 0 else raw[:hash_at]
        key, sep, value = line.partition(":")
        if not sep:
            # Google accepts "key value" when exactly two words are on the line.
            words = line.split()
            if len(words) != 2:
                continue
            key, value = words
        key = key.strip().lower()
        value = value.strip()
        if key in _USER_AGENT:
            if not in_agents:
                current = []
                in_agents = True
            for group in _groups_for(result, value):
                if group not in current:
                    current.append(group)
            continue
        if not current:
            continue  # records before the first user-agent line are ignored (RFC 9309 §2.2.2)
        if key in _ALLOW or key in _DISALLOW:
            in_agents = False
            if not value:
                continue  # an empty pattern matches nothing
            rule = Rule(key in _ALLOW, compile_pattern(value), lineno)
            for group in current:
                group.rules.append(rule)
        elif key in _CONTENT_USAGE or key in _CONTENT_SIGNAL:
            in_agents = False
            record = Line(value, lineno)
            for group in current:
                (group.usages if key in _CONTENT_USAGE else group.signals).append(record)
        # Other records (Sitemap, Crawl-delay, License, …) neither end nor join a group.
    result.lines = lineno
    return result


def _groups_for(result: RobotsFile, value: str) -> list[Group]:
    """The merged groups one user-agent line writes to (its token's and its name's)."""
    if value == "*" or (value.startswith("*") and value[1:2] in (" ", "\t")):
        if result.star is None:
            result.star = Group()
        result.star.agents.append("*")
        return [result.star]
    token = product_token(value)
    name = product_name(value)
    targets: list[Group] = []
    if token:
        targets.append(result.by_token.setdefault(token, Group()))
    if name and name != token:
        targets.append(result.by_name.setdefault(name, Group()))
    for target in targets:
        target.agents.append(value)
    return targets
