"""``consent-crawler decide`` and the command line, through the real console script."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clitools import run_cli

ROBOTS_DENY_X = {"status": 200, "body": "User-agent: *\nDisallow: /x\n"}


def _lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_one_answer_per_line_in_order_and_bad_lines_do_not_stop_the_rest() -> None:
    stdin = (
        "\n".join(
            [
                json.dumps({"url": "https://e.com/x/1", "robots_txt": ROBOTS_DENY_X}),
                '{"url": "https://e.com/broken", "robots_txt": ',
                json.dumps({"url": "https://e.com/y", "robots_txt": {"status": "200"}}),
                "",
                "[1, 2]",
                json.dumps({"url": "https://e.com/ok", "robots_txt": ROBOTS_DENY_X}),
            ]
        )
        + "\n"
    )
    done = run_cli("decide", stdin=stdin)
    assert done.returncode == 1
    answers = _lines(done.stdout)
    assert len(answers) == 5  # the blank line is not an input
    assert (answers[0]["url"], answers[0]["fetch"]) == ("https://e.com/x/1", "refused")
    assert answers[1] == {"url": None, "error": "line 2: not valid JSON"}
    assert answers[2] == {
        "url": "https://e.com/y",
        "error": "line 3: 'robots_txt.status' must be an HTTP status code (0 = network error)",
    }
    assert answers[3] == {"url": None, "error": "line 5: input line must be a JSON object"}
    assert (answers[4]["url"], answers[4]["fetch"], answers[4]["use"]) == (
        "https://e.com/ok",
        "allowed",
        "allowed",
    )


def test_all_good_lines_exit_0_and_answers_carry_reasons_and_hashes() -> None:
    stdin = (
        json.dumps(
            {
                "url": "https://e.com/x",
                "token": "FooBot",
                "robots_txt": ROBOTS_DENY_X,
                "headers": {"X-Robots-Tag": "noai"},
            }
        )
        + "\n"
    )
    done = run_cli("decide", stdin=stdin)
    assert done.returncode == 0, done.stderr
    (answer,) = _lines(done.stdout)
    assert set(answer) >= {"url", "fetch", "use", "reasons"}
    (reason,) = answer["reasons"]  # type: ignore[misc]
    assert reason["signal"] == "robots" and reason["verdict"] == "refuse"
    assert len(reason["evidence"]) == 64


def test_token_field_replaces_the_policy_token_per_line() -> None:
    body = "User-agent: FooBot\nDisallow: /\n"
    stdin = "".join(
        json.dumps(
            {"url": "https://e.com/a", "token": t, "robots_txt": {"status": 200, "body": body}}
        )
        + "\n"
        for t in ("FooBot", "BarBot")
    )
    answers = _lines(run_cli("decide", stdin=stdin).stdout)
    assert [a["fetch"] for a in answers] == ["refused", "allowed"]


def test_bundled_policy_by_name() -> None:
    stdin = json.dumps({"url": "https://e.com/a"}) + "\n"
    assert _lines(run_cli("decide", stdin=stdin).stdout)[0]["use"] == "allowed"
    assert (
        _lines(run_cli("decide", "--policy", "opt-in", stdin=stdin).stdout)[0]["use"] == "refused"
    )


def test_broken_policy_exits_2_before_reading_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("mode = 3\n", encoding="utf-8")
    done = run_cli("decide", "--policy", bad, stdin=json.dumps({"url": "https://e.com"}) + "\n")
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"error: {bad}:1: mode: expected a string, got 3" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("decide", "--help"),
        ("policy", "--help"),
        ("policy", "validate", "--help"),
        ("policy", "keys", "--help"),
    ],
)
def test_help(args: tuple[str, ...]) -> None:
    done = run_cli(*args)
    assert done.returncode == 0
    assert done.stdout.startswith("usage: consent-crawler")


def test_bad_arguments_exit_2_with_usage() -> None:
    done = run_cli("decide", "--no-such-flag")
    assert done.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in done.stderr


def test_policy_keys_lists_every_section() -> None:
    out = run_cli("policy", "keys").stdout
    for section in (
        "identity",
        "robots",
        "robots_ai_tokens",
        "ai_txt",
        "tdmrep",
        "content_usage",
        "content_signal",
        "x_robots_tag",
        "meta_robots",
        "directives",
        "registry",
        "domains",
    ):
        assert f"**`[{section}]`**" in out
