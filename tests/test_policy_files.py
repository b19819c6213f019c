"""Policy files: the shipped policies, the schema, and one test per kind of policy error.

Every error must name the file, the key path and (where it can be found) the line.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from crawler.cli.policy_cmd import keys_markdown
from crawler.core import Policy, PolicyError, load_policy
from tests.clitools import run_cli
from tests.vectorlib import ROOT

POLICIES = ROOT / "policies"


def _errors(tmp_path: Path, text: str, name: str = "p.toml") -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    return [str(issue) for issue in caught.value.issues]


def test_shipped_policies_validate_through_the_console_script() -> None:
    done = run_cli("policy", "validate", POLICIES / "default.toml", POLICIES / "opt-in.toml")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(": ok (policy") == 2


def test_default_policy_honours_every_signal_and_refuses_on_error() -> None:
    policy = load_policy(POLICIES / "default.toml")
    assert policy.mode == "opt-out"
    for section in (
        "ai_txt",
        "tdmrep",
        "content_usage",
        "content_signal",
        "x_robots_tag",
        "meta_robots",
        "robots_ai_tokens",
    ):
        assert getattr(policy, section).honour, section
    assert policy.ai_txt.on_error == policy.tdmrep.on_error == "refuse"
    assert policy.registry.on_error == "refuse"
    tokens = {t.lower() for t in policy.robots_ai_tokens.tokens}
    named = {
        "gptbot",
        "ccbot",
        "google-extended",
        "claudebot",
        "anthropic-ai",
        "applebot-extended",
        "bytespider",
        "meta-externalagent",
        "cohere-training-data-crawler",
        "diffbot",
        "omgili",
        "ai2bot",
        "perplexitybot",
    }
    assert named <= tokens
    ident = policy.identity
    assert ident.token in ident.user_agent and ident.contact_url in ident.user_agent


def test_opt_in_extends_default_and_changes_only_the_mode() -> None:
    default = load_policy(POLICIES / "default.toml")
    opt_in = load_policy(POLICIES / "opt-in.toml")
    assert (opt_in.name, opt_in.mode) == ("opt-in", "opt-in")
    assert opt_in.robots_ai_tokens == default.robots_ai_tokens
    assert opt_in.identity == default.identity
    # The recorded text is the whole chain, so its hash pins every file in force.
    assert "# ---- opt-in.toml ----" in opt_in.text and "# ---- default.toml ----" in opt_in.text
    assert re.fullmatch(r"[0-9a-f]{64}", opt_in.sha256)


def test_policy_hash_does_not_depend_on_how_the_path_was_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    absolute = load_policy(POLICIES / "opt-in.toml").sha256
    monkeypatch.chdir(ROOT)
    assert load_policy(Path("policies/opt-in.toml")).sha256 == absolute


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "team-policy.toml"
    path.write_text('mode = "opt-in"\n', encoding="utf-8")
    policy = load_policy(path)
    assert policy.name == "team-policy"
    assert policy.text == 'mode = "opt-in"\n'


def test_unknown_key_is_located_and_suggests_the_right_one(tmp_path: Path) -> None:
    errors = _errors(tmp_path, '[tdmrep]\nhonour = true\non_eror = "refuse"\n')
    assert errors == [
        f"{tmp_path / 'p.toml'}:3: tdmrep.on_eror: unknown key; did you mean 'on_error'? "
        "(keys allowed in [tdmrep]: honour, on_error)"
    ]


def test_unknown_section(tmp_path: Path) -> None:
    (error,) = _errors(tmp_path, 'mode = "opt-out"\n\n[robot]\nmax_bytes = 600000\n')
    assert ":3: robot: unknown key; did you mean 'robots'?" in error


def test_wrong_type(tmp_path: Path) -> None:
    (error,) = _errors(tmp_path, '[robots]\nmax_bytes = "lots"\n')
    assert error.endswith(":2: robots.max_bytes: expected an integer, got 'lots'")


def test_boolean_is_not_an_integer(tmp_path: Path) -> None:
    (error,) = _errors(tmp_path, "[robots]\nttl_seconds = true\n")
    assert "robots.ttl_seconds: expected an integer, got True" in error


def test_bad_choice_lists_what_is_allowed(tmp_path: Path) -> None:
    (error,) = _errors(tmp_path, 'mode = "opt-maybe"\n')
    assert error.endswith(
        ":1: mode: 'opt-maybe' is not allowed; expected one of 'opt-out', 'opt-in'"
    )


def test_value_out_of_range(tmp_path: Path) -> None:
    errors = _errors(tmp_path, "[robots]\nmax_bytes = 1000\nttl_seconds = 172800\n")
    assert any(":2: robots.max_bytes: 1000 is below the minimum 512000" in e for e in errors)
    assert any(":3: robots.ttl_seconds: 172800 is above the maximum 86400" in e for e in errors)


def test_bad_list_item(tmp_path: Path) -> None:
    (error,) = _errors(tmp_path, '[directives]\nrefuse = ["noai", "nonsense"]\n')
    assert "directives.refuse: item 2: 'nonsense' is not allowed" in error


def test_token_must_be_an_rfc_9309_product_token(tmp_path: Path) -> None:
    errors = _errors(tmp_path, '[identity]\ntoken = "Consent Bot 2"\n')
    assert any(
        "identity.token: 'Consent Bot 2' does not match the allowed form" in e for e in errors
    )


def test_section_given_as_a_value(tmp_path: Path) -> None:
    (error,) = _errors(tmp_path, 'robots = "strict"\n')
    assert error.endswith(":1: robots: must be a table, got str")


def test_unparseable_toml_names_the_line(tmp_path: Path) -> None:
    (error,) = _errors(tmp_path, 'mode = "opt-out"\n[robots\nmax_bytes = 1\n')
    assert error.startswith(f"{tmp_path / 'p.toml'}:2: not valid TOML")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path / "absent.toml")
    assert "cannot read file" in str(caught.value)


def test_user_agent_must_carry_token_and_contact(tmp_path: Path) -> None:
    errors = _errors(tmp_path, '[identity]\ntoken = "FooBot"\nuser_agent = "Mozilla/5.0"\n')
    assert any(
        ":3: identity.user_agent: must contain the product token 'FooBot'" in e for e in errors
    )
    assert any("identity.user_agent: must contain the contact URL" in e for e in errors)


def test_registry_enabled_without_endpoint(tmp_path: Path) -> None:
    (error,) = _errors(tmp_path, "[registry]\nenabled = true\n")
    assert ":2: registry.enabled: registry is enabled but neither 'url' nor 'file' is set" in error


def test_registry_url_must_not_carry_a_password(tmp_path: Path) -> None:
    (error,) = _errors(tmp_path, '[registry]\nurl = "https://me:s3cret@reg.example/api"\n')
    assert "registry.url: must not carry user:password" in error and "s3cret" not in error


def test_network_allow_entries_are_checked_by_validate(tmp_path: Path) -> None:
    (error,) = _errors(tmp_path, '[network]\nallow = ["127.0.0.1:8080", "10.0.0.5/8"]\n')
    assert ":2: network.allow: item 2: '10.0.0.5/8' is not an address, network" in error


def test_extends_loop_and_missing_parent(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n', encoding="utf-8")
    with pytest.raises(PolicyError, match="extends loops back here"):
        load_policy(tmp_path / "a.toml")
    (tmp_path / "c.toml").write_text('extends = "nowhere.toml"\n', encoding="utf-8")
    with pytest.raises(PolicyError, match=r"nowhere\.toml: cannot read file"):
        load_policy(tmp_path / "c.toml")


def test_error_in_a_parent_policy_names_the_parent(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text('[tdmrep]\non_error = "shrug"\n', encoding="utf-8")
    (tmp_path / "team.toml").write_text(
        'extends = "base.toml"\nmode = "opt-in"\n', encoding="utf-8"
    )
    with pytest.raises(PolicyError) as caught:
        load_policy(tmp_path / "team.toml")
    assert str(caught.value).startswith(f"{tmp_path / 'base.toml'}:2: tdmrep.on_error:")


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    errors = _errors(tmp_path, 'mode = "x"\n[robots]\nmax_bytes = 1\n[tdmrep]\nhonor = true\n')
    assert len(errors) == 3


def test_validate_command_exits_1_with_located_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('[ai_txt]\non_error = "maybe"\n', encoding="utf-8")
    done = run_cli("policy", "validate", POLICIES / "default.toml", broken)
    assert done.returncode == 1
    assert f"error: {broken}:2: ai_txt.on_error: 'maybe' is not allowed" in done.stderr
    assert "default.toml: ok" in done.stdout  # the good file is still reported


def test_schema_keys_all_have_docs() -> None:
    def walk(cls: type) -> None:
        for f in dataclasses.fields(cls):
            if f.metadata.get("internal"):
                continue
            if (
                dataclasses.is_dataclass(f.default_factory)
                if f.default_factory is not dataclasses.MISSING
                else False
            ):
                walk(f.default_factory)  # type: ignore[arg-type]
            else:
                assert f.metadata.get("doc"), f.name

    walk(Policy)


def test_readme_policy_reference_is_generated_from_the_schema() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert keys_markdown() in readme, "run `consent-crawler policy keys` and paste it in README"


def test_readme_settings_reference_is_generated_from_the_settings() -> None:
    from crawler.context import settings_markdown

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings_markdown() in readme
