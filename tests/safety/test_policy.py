"""Policies: first-match decisions, the user's-words conditions, files with errors, the dispatcher hook."""

from __future__ import annotations

from pathlib import Path

import pytest

from recpilot.errors import DataError
from recpilot.safety import (
    ArgPredicate,
    PolicyCall,
    PolicyRule,
    SafetyPolicy,
    UserRequest,
    default_policy,
    load_policy,
    read_only_policy,
    report_unusable,
)
from recpilot.tools import RECOMMENDER_TOOLS, ToolDispatcher

ASKED = UserRequest(
    text="remember that I love westerns",
    writes=frozenset({"remember"}),
    stated={"kind": frozenset({"like_attribute"})},
)


def _call(tool: str, privilege: str = "write", request: UserRequest = ASKED, **args: object) -> PolicyCall:
    return PolicyCall(tool, privilege, args, request)


def test_default_policy_reads_run_and_writes_need_the_users_words() -> None:
    policy = default_policy()
    assert policy.decide(_call("search_catalog", "read", UserRequest())).action == "allow"
    unasked = policy.decide(_call("remember_preference", request=UserRequest(text="a 90s comedy")))
    assert unasked.action == "deny"
    assert "did not ask" in unasked.reason
    said = policy.decide(_call("remember_preference", kind="like_attribute", value="genres=Westerns"))
    assert said.action == "allow"
    smuggled = policy.decide(_call("remember_preference", kind="like_attribute", value="genres=Horror"))
    assert smuggled.action == "deny"
    assert "did not say" in smuggled.reason
    flipped = policy.decide(_call("remember_preference", kind="dislike_attribute", value="genres=Westerns"))
    assert flipped.action == "deny", "the user stated a like, not a dislike"
    other_write = policy.decide(
        _call("add_feed_rule", effect="exclude", attribute="genres", value="Westerns")
    )
    assert other_write.action == "deny", "asking to remember is not asking for a feed rule"
    assert policy.decide(_call("no_such_tool", "read")).action == "allow", "reads are allowed by privilege"
    assert policy.decide(_call("no_such_write")).action == "deny"


def test_mentions_from_the_parser_count_as_said() -> None:
    request = UserRequest(
        text="I liked Heat",
        writes=frozenset({"remember"}),
        mentions=frozenset({"6"}),
        stated={"kind": frozenset({"like_item"})},
    )
    decision = default_policy().decide(
        _call("remember_preference", request=request, kind="like_item", value="6")
    )
    assert decision.action == "allow"


def test_a_rule_lasts_no_longer_than_the_user_said() -> None:
    week = UserRequest(
        text="no more horror this week",
        writes=frozenset({"feed_add"}),
        stated={"effect": frozenset({"exclude"}), "days": frozenset({"7.0"})},
    )
    policy = default_policy()

    def rule(**args: object) -> str:
        return policy.decide(
            _call("add_feed_rule", request=week, attribute="genres", value="Horror", **args)
        ).action

    assert rule(effect="exclude", days=7) == "allow"
    assert rule(effect="exclude", days=None) == "deny", "until removed outlasts a week"
    assert rule(effect="exclude", days=999) == "deny"
    assert rule(effect="require", days=7) == "deny", "the user asked to exclude, not to require"


def test_first_matching_rule_decides_and_predicates_combine() -> None:
    policy = SafetyPolicy(
        name="t",
        rules=[
            PolicyRule(tool="add_feed_rule", args=[ArgPredicate(arg="days", min=0, max=30)], action="allow"),
            PolicyRule(tool="*_feed_rule", action="confirm"),
        ],
        default="deny",
    )
    assert policy.decide(_call("add_feed_rule", days=7)).action == "allow"
    assert policy.decide(_call("add_feed_rule", days=365)).action == "confirm"
    assert policy.decide(_call("add_feed_rule", days=None)).action == "confirm", (
        "a missing number is no match"
    )
    assert policy.decide(_call("remove_feed_rule")).rule == 1
    assert policy.decide(_call("remember_preference")).rule == -1


def test_policy_files_load_and_errors_name_file_line_and_problem(tmp_path: Path) -> None:
    good = tmp_path / "p.toml"
    good.write_text('name = "mine"\n[[rules]]\nprivilege = "read"\naction = "allow"\n', encoding="utf-8")
    assert load_policy(good).name == "mine"
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[rules]]\nprivilege = "read"\naction = "allow"\n\n[[rules]]\ntool = "x"\naction = "maybe"\n',
        encoding="utf-8",
    )
    with pytest.raises(DataError, match=r"bad\.toml, line 7: rules\[1\]\.action: Input should be"):
        load_policy(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text('[[rules]]\naction = "allow"\ntool = \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"broken\.toml, line 3: not valid TOML"):
        load_policy(broken)
    bad_json = tmp_path / "p.json"
    bad_json.write_text(
        '{"rules": [\n  {"action": "allow"},\n  {"action": "allow", "extra": 1}\n]}', encoding="utf-8"
    )
    with pytest.raises(DataError, match=r"p\.json, line 3: rules\[1\]\.extra: Extra inputs"):
        load_policy(bad_json)
    regex = tmp_path / "r.json"
    regex.write_text(
        '{"rules": [{"action": "deny", "args": [{"arg": "value", "matches": "("}]}]}', encoding="utf-8"
    )
    with pytest.raises(DataError, match="not a regular expression"):
        load_policy(regex)
    with pytest.raises(DataError, match="default, read-only, allow-all"):
        load_policy(tmp_path / "missing.toml")
    assert load_policy("read-only") == read_only_policy()


def test_a_policy_that_denies_everything_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    deny_all = SafetyPolicy(name="closed", rules=[PolicyRule(action="deny")])
    assert report_unusable(deny_all, RECOMMENDER_TOOLS) == [
        "policy 'closed' denies every tool: the agent can only chat"
    ]
    dispatcher = ToolDispatcher(RECOMMENDER_TOOLS, deny_all)
    assert dispatcher.warnings
    assert "denies every tool" in caplog.text
    assert ToolDispatcher(RECOMMENDER_TOOLS).warnings == [], "the default policy can run every tool"
    partial = report_unusable(read_only_policy(), RECOMMENDER_TOOLS)
    assert partial == ["policy 'read-only' never allows: remember_preference, forget_preference"]


def test_the_dispatcher_runs_the_default_policy_when_given_none() -> None:
    assert ToolDispatcher(RECOMMENDER_TOOLS).policy == default_policy()
