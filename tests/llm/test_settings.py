"""LLM settings, the --llm syntax, the retry policy and the remote-request guard (no network, no model)."""

from __future__ import annotations

import email.utils
import time

import httpx2
import pytest

from recpilot.errors import ConfigError
from recpilot.llm import LLMSettings, load_llm_settings, parse_llm_option
from recpilot.llm.models import RetryPolicy, is_loopback_host, retry_after_seconds
from recpilot.llm.settings import DEFAULT_MODEL, OPENAI_BASE_URL


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BASE_URL", "MODEL", "API_KEY", "TIMEOUT_S", "MAX_RETRIES", "TEMPERATURE"):
        monkeypatch.delenv(f"RECPILOT_LLM_{name}", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_defaults_point_at_openai() -> None:
    settings = LLMSettings()
    assert settings.base_url is None
    assert settings.endpoint == OPENAI_BASE_URL
    assert settings.is_openai
    assert settings.model == DEFAULT_MODEL
    assert settings.resolved_api_key() is None


def test_environment_is_read_when_instantiated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECPILOT_LLM_BASE_URL", "http://127.0.0.1:8000/v1/")
    monkeypatch.setenv("RECPILOT_LLM_MODEL", "llama3.1")
    monkeypatch.setenv("RECPILOT_LLM_API_KEY", "sk-local")
    monkeypatch.setenv("RECPILOT_LLM_TIMEOUT_S", "2.5")
    monkeypatch.setenv("RECPILOT_LLM_MAX_RETRIES", "4")
    settings = LLMSettings()
    assert settings.base_url == "http://127.0.0.1:8000/v1"  # trailing slash removed
    assert settings.model == "llama3.1"
    assert settings.timeout_s == 2.5
    assert settings.max_retries == 4
    assert not settings.is_openai
    assert settings.resolved_api_key() == "sk-local"
    assert "sk-local" not in repr(settings)
    assert "sk-local" not in settings.describe()


def test_openai_key_only_goes_to_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert LLMSettings().resolved_api_key() == "sk-openai"
    assert LLMSettings(base_url="http://localhost:11434/v1").resolved_api_key() is None


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("RECPILOT_LLM_TIMEOUT_S", "0", "timeout_s"),
        ("RECPILOT_LLM_MAX_RETRIES", "-1", "max_retries"),
        ("RECPILOT_LLM_BASE_URL", "ftp://example.org", "base_url"),
        ("RECPILOT_LLM_TEMPERATURE", "hot", "temperature"),
    ],
)
def test_invalid_environment_names_the_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=field):
        load_llm_settings()


@pytest.mark.parametrize(
    ("option", "base_url", "model"),
    [
        ("gpt-4o-mini", None, "gpt-4o-mini"),
        ("openai:gpt-4.1", None, "gpt-4.1"),
        ("http://localhost:11434/v1#llama3.1", "http://localhost:11434/v1", "llama3.1"),
        ("http://localhost:11434/v1#llama3.1:8b", "http://localhost:11434/v1", "llama3.1:8b"),
        ("llama3.1:8b", None, "llama3.1:8b"),
        (
            "https://gw.example.org/openai/v1#qwen/qwen3-coder",
            "https://gw.example.org/openai/v1",
            "qwen/qwen3-coder",
        ),
        ("  http://127.0.0.1:8080/v1#local  ", "http://127.0.0.1:8080/v1", "local"),
    ],
)
def test_llm_option_syntax(option: str, base_url: str | None, model: str) -> None:
    settings = parse_llm_option(option, LLMSettings(timeout_s=3))
    assert settings.base_url == base_url
    assert settings.model == model
    assert settings.timeout_s == 3  # everything else comes from the base settings
    assert LLMSettings.from_cli(option).model == model


def test_model_alone_keeps_the_configured_endpoint() -> None:
    base = LLMSettings(base_url="http://localhost:8000/v1")
    assert parse_llm_option("mistral", base).base_url == "http://localhost:8000/v1"
    assert parse_llm_option("openai:gpt-4o", base).base_url is None


@pytest.mark.parametrize(
    "option",
    [
        "",
        "   ",
        "http://localhost:11434/v1",
        "http://localhost:11434/v1#",
        "http://x/v1@llama3",
        "two words",
        "a#b",
    ],
)
def test_bad_llm_option_explains_the_syntax(option: str) -> None:
    with pytest.raises(ConfigError, match="URL#MODEL"):
        parse_llm_option(option, LLMSettings())


def test_llm_option_with_a_bad_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        parse_llm_option("ftp://host/v1#model", LLMSettings())


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(max_retries=6, backoff_s=0.5, backoff_max_s=3.0, jitter=0.25)
    for retry, base in enumerate([0.5, 1.0, 2.0, 3.0, 3.0]):
        delays = [policy.backoff(retry) for _ in range(50)]
        assert all(0.75 * base <= d <= base for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    policy = RetryPolicy(backoff_s=0.5, retry_after_max_s=10.0)
    assert policy.delay(0, httpx2.Headers({"Retry-After": "3"})) == 3.0
    assert policy.delay(0, httpx2.Headers({"retry-after-ms": "250"})) == 0.25
    assert policy.delay(0, httpx2.Headers({"Retry-After": "60"})) is None  # beyond the cap: give up
    assert 0.375 <= (policy.delay(0, httpx2.Headers({"Retry-After": "soon"})) or 0) <= 0.5


def test_retry_after_as_http_date() -> None:
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    seconds = retry_after_seconds(httpx2.Headers({"Retry-After": when}))
    assert seconds is not None
    assert 3.0 <= seconds <= 5.0


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (400, False),
        (401, False),
        (404, False),
        (408, True),
        (422, False),
        (429, True),
        (500, True),
        (501, False),
        (503, True),
    ],
)
def test_which_statuses_are_retried(status: int, retried: bool) -> None:
    assert RetryPolicy.retryable(status) is retried


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("api.openai.com", False),
        ("10.0.0.1", False),
        ("192.0.2.1", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
