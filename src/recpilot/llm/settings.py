"""How recpilot reaches a language model: one OpenAI-compatible endpoint, configured once.

Any server that speaks the OpenAI chat-completions API works: OpenAI itself, vLLM, Ollama,
llama.cpp's server, LM Studio, or a gateway. Settings come from the environment (``RECPILOT_LLM_``
prefix) when :class:`LLMSettings` is instantiated, never at import, and a ``--llm`` command-line value
overrides the endpoint and model (see :func:`parse_llm_option`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from recpilot.errors import ConfigError

#: The endpoint used when no base URL is configured.
OPENAI_BASE_URL = "https://api.openai.com/v1"
#: The model used when none is configured.
DEFAULT_MODEL = "gpt-4o-mini"

LLM_OPTION_HELP = (
    "MODEL, openai:MODEL or URL#MODEL, e.g. 'gpt-4o-mini', 'openai:gpt-4o-mini' or "
    "'http://localhost:11434/v1#llama3.1' (any OpenAI-compatible endpoint: vLLM, Ollama, llama.cpp, "
    "LM Studio)"
)


class LLMSettings(BaseSettings):
    """The language-model endpoint and how patiently to talk to it.

    Every field reads ``RECPILOT_LLM_<FIELD>`` from the environment, e.g. ``RECPILOT_LLM_BASE_URL``,
    ``RECPILOT_LLM_MODEL``, ``RECPILOT_LLM_API_KEY``, ``RECPILOT_LLM_TIMEOUT_S``.

    Attributes:
        base_url: The OpenAI-compatible API root (ending in ``/v1`` for most servers); None means
            OpenAI's own API.
        model: The model name the server knows (``gpt-4o-mini``, ``llama3.1``...).
        api_key: The key sent as a bearer token; None sends a placeholder (local servers need none).
            For OpenAI's own API, ``OPENAI_API_KEY`` is used when this is not set.
        timeout_s: Seconds one HTTP attempt may take before it counts as failed (a retry after a
            timeout gets twice its attempt's time, up to four times this: a slow server then answers).
        max_retries: Extra attempts after a failed one (timeouts, connection errors, HTTP 408, 429, 5xx).
        backoff_s: The first retry's delay; each further retry doubles it (jittered).
        backoff_max_s: The longest delay between attempts.
        retry_after_max_s: The longest ``Retry-After`` honoured; a server asking for more is not retried.
        temperature: Sampling temperature (None keeps the server's default).
        max_output_tokens: The cap on tokens per answer, sent with every request (a call that hits it
            is handled as a cut answer, never left to run on).
        output_mode: How a typed answer is asked for: ``auto`` (learned once per endpoint and model,
            stepping down when the server rejects a shape), ``tool``, ``json_schema``, ``json_object``
            or ``prompted`` (see :mod:`recpilot.llm.modes`).
        modes_file: Where learned output modes are kept (None: ``llm-modes.json`` under the settings home).
        concurrency: Requests in flight at most per endpoint. The limit in force adapts below it (AIMD):
            it starts at 2, a timeout or an HTTP 429/503 halves it (down to 1), answers in time grow it
            by one per round, and it stays put while the server queues requests or one more queued
            request would near ``timeout_s``; so a one-slot local server gets one or two requests at a
            time (see :mod:`recpilot.llm.ratelimit`).
        requests_per_s: Requests started per second at most (None: no rate limit).
        cache_path: SQLite file of the record/replay cache (None: no cache).
        cache_mode: ``record``, ``replay`` or ``auto`` (replay what is stored, record the rest).
        output_retries: How often the model may correct an answer that fails validation (bad JSON,
            a schema violation, an unknown tool, an empty answer) before the call fails.
        deadline_s: The most seconds one brain step (planning with its tools, or writing the reply) may
            take in total, retries included, before the offline brain takes over.
    """

    model_config = SettingsConfigDict(env_prefix="RECPILOT_LLM_", extra="forbid")

    base_url: str | None = None
    model: str = DEFAULT_MODEL
    api_key: SecretStr | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=2, ge=0, le=10)
    backoff_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=8.0, ge=0)
    retry_after_max_s: float = Field(default=30.0, ge=0)
    temperature: float | None = Field(default=0.2, ge=0, le=2)
    max_output_tokens: int = Field(default=512, gt=0)
    output_mode: Literal["auto", "tool", "json_schema", "json_object", "prompted"] = "auto"
    modes_file: Path | None = None
    concurrency: int = Field(default=4, ge=1, le=1024)
    requests_per_s: float | None = Field(default=None, gt=0)
    cache_path: str | None = None
    cache_mode: Literal["record", "replay", "auto"] = "auto"
    output_retries: int = Field(default=1, ge=0, le=5)
    deadline_s: float = Field(default=90.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the LLM base URL must be http(s)://host[:port]/path, got {value!r}")
        return value

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the LLM model name is empty")
        return value.strip()

    @property
    def endpoint(self) -> str:
        """The base URL requests go to."""
        return self.base_url or OPENAI_BASE_URL

    @property
    def is_openai(self) -> bool:
        """Whether the endpoint is OpenAI's own API."""
        return urlsplit(self.endpoint).hostname == urlsplit(OPENAI_BASE_URL).hostname

    def resolved_api_key(self) -> str | None:
        """The key to send: the configured one, else ``OPENAI_API_KEY`` for OpenAI's API only.

        An OpenAI key is never sent to another server.
        """
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.is_openai:
            return os.environ.get("OPENAI_API_KEY") or None
        return None

    @classmethod
    def from_cli(cls, value: str) -> LLMSettings:
        """Settings for a ``--llm`` value; see :func:`parse_llm_option` for the syntax."""
        return parse_llm_option(value)

    @property
    def key(self) -> str:
        """``endpoint#model``: what learned output modes are kept under."""
        return f"{self.endpoint}#{self.model}"

    def resolved_modes_file(self) -> Path:
        """The file learned output modes are kept in."""
        if self.modes_file is not None:
            return self.modes_file
        from recpilot.settings import get_settings

        return get_settings().home / "llm-modes.json"

    def describe(self) -> str:
        """``model @ endpoint`` for logs and messages (never the key)."""
        return f"{self.model} @ {self.endpoint}"


def parse_llm_option(value: str, base: LLMSettings | None = None) -> LLMSettings:
    """Settings for a ``--llm`` command-line value.

    The syntax is ``MODEL``, ``openai:MODEL`` or ``URL#MODEL``:

    - ``gpt-4o-mini``: that model at the configured endpoint (``RECPILOT_LLM_BASE_URL``, else OpenAI);
    - ``openai:gpt-4o-mini``: that model at OpenAI's API;
    - ``http://localhost:11434/v1#llama3.1``: that model at any OpenAI-compatible endpoint (the part
      after ``#`` is a URL fragment, which is never part of a server address, so it cannot clash).

    Args:
        value: The option's value.
        base: Settings supplying everything else (read from the environment when None).

    Raises:
        ConfigError: The value does not follow the syntax.
    """
    text = value.strip()
    settings = base if base is not None else LLMSettings()
    updates: dict[str, Any] = {}
    if "://" in text:
        url, hash_mark, model = text.partition("#")
        if not hash_mark or not model.strip():
            raise ConfigError(
                f"--llm {value!r} names an endpoint but no model; use URL#MODEL ({LLM_OPTION_HELP})"
            )
        updates = {"base_url": url, "model": model}
    elif text.lower().startswith("openai:"):
        updates = {"base_url": None, "model": text.partition(":")[2]}
    elif text and "#" not in text and " " not in text:
        updates = {"model": text}
    else:
        raise ConfigError(f"--llm {value!r} is not understood; expected {LLM_OPTION_HELP}")
    try:
        return LLMSettings(**{**_explicit_fields(settings), **updates})
    except ValueError as exc:
        raise ConfigError(f"--llm {value!r}: {_first_error(exc)}; expected {LLM_OPTION_HELP}") from None


def load_llm_settings(**overrides: Any) -> LLMSettings:
    """Read :class:`LLMSettings` from the environment now, applying ``overrides``.

    Raises:
        ConfigError: A variable or override is invalid (the message names it).
    """
    try:
        return LLMSettings(**overrides)
    except ValueError as exc:
        raise ConfigError(f"invalid LLM settings (RECPILOT_LLM_*): {_first_error(exc)}") from None


def _explicit_fields(settings: LLMSettings) -> dict[str, Any]:
    # Passing every field explicitly keeps `settings` as given (init values win over the environment).
    return {name: getattr(settings, name) for name in type(settings).model_fields}


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "value"
        return f"{where}: {first.get('msg', exc)}"
    return str(exc)
