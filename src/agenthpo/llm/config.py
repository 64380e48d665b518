"""Where the LLM is and how to talk to it. The API key is never part of a spec: only the name of
the environment variable that holds it, so specs, tags and artifacts cannot leak it.

Errors are FieldErrors whose paths are relative to the spec's `llm:` section (`temperature`,
`prices.prompt_per_million`); the spec parser adds `llm.`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from agenthpo import redact
from agenthpo.errors import FieldError, did_you_mean, prefixed, reject_unknown

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
# json_schema: the full schema (llama.cpp, vLLM and Ollama grammars enforce bounds and lengths);
# json_schema_portable: without numeric, length and item-count constraints, which hosted APIs' strict
# modes refuse (values are still validated client-side); json_object: JSON mode, the schema in the prompt.
STRUCTURED_MODES = ("json_schema", "json_schema_portable", "json_object", "none")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_float(value: Any) -> Any:
    """A price as a float (numbers and numeric strings, as before); anything else is left for the check."""
    try:
        return value if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return value


def has_credentials(url: str) -> bool:
    """True for a URL with a user or password before its host (`http://user:key@host/v1`)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "@" in url
    return "@" in parts.netloc or bool(parts.username or parts.password)


@dataclass(frozen=True)
class Prices:
    """USD per million tokens; zero for a local model.

    Raises:
        FieldError: `prompt_per_million` / `completion_per_million` when not a finite number.
    """

    prompt_per_million: float = 0.0
    completion_per_million: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            if not _is_number(getattr(self, f.name)) or math.isnan(getattr(self, f.name)):
                raise FieldError(f.name, f"{getattr(self, f.name)!r} must be a number (USD per million tokens)")

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt_per_million + completion_tokens * self.completion_per_million) / 1e6

    @classmethod
    def from_json(cls, data: Any) -> Prices:
        if not isinstance(data, Mapping):
            raise FieldError("", f"{data!r} must be a mapping of prompt_per_million and completion_per_million")
        reject_unknown(data, {f.name for f in fields(cls)})
        return cls(**{k: _as_float(v) for k, v in data.items()})


@dataclass(frozen=True)
class LLMConfig:
    """The spec's `llm:` section.

    Raises:
        FieldError: the field's name (`temperature`, `max_tokens`, ...) for a value of the wrong type or range.
    """

    base_url: str | None = None  # None: OPENAI_BASE_URL, else the local llama.cpp server
    model: str | None = None  # None: AGENTHPO_LLM_MODEL, else whatever the server serves
    api_key_env: str = DEFAULT_KEY_ENV
    temperature: float = 0.7
    timeout: float = 120.0
    max_retries: int = 3
    max_tokens: int = 1024
    structured_output: str = "json_schema"
    prices: Prices = field(default_factory=Prices)

    def __post_init__(self) -> None:
        for name in ("base_url", "model", "api_key_env"):
            value = getattr(self, name)
            if not isinstance(value, str) and (value is not None or name == "api_key_env"):
                raise FieldError(name, f"{value!r} must be a string")
        if self.base_url is not None and has_credentials(self.base_url):
            raise FieldError("base_url", f"{redact.redact(self.base_url)!r} carries credentials: a key must not be "
                                         f"written in a spec or URL; put it in the environment variable named by "
                                         f"llm.api_key_env ({self.api_key_env}) and give the URL without it")
        redact.register_env(self.api_key_env)  # its value is redacted from everything written from now on
        if not _is_number(self.temperature) or not 0.0 <= self.temperature <= 2.0:
            raise FieldError("temperature", f"{self.temperature!r} outside [0, 2]; give a number in that range "
                                            f"(lower is more deterministic)")
        if not _is_number(self.timeout) or self.timeout <= 0:
            raise FieldError("timeout", f"{self.timeout!r} must be a number > 0 (seconds)")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise FieldError("max_retries", f"{self.max_retries!r} must be an integer >= 0")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 16:
            raise FieldError("max_tokens", f"{self.max_tokens!r} must be an integer >= 16")
        if self.structured_output not in STRUCTURED_MODES:
            raise FieldError("structured_output", f"{self.structured_output!r} is not one of {list(STRUCTURED_MODES)}"
                                                  f"{did_you_mean(self.structured_output, STRUCTURED_MODES)}")
        if not isinstance(self.prices, Prices):
            raise FieldError("prices", f"{self.prices!r} must be a Prices")

    def resolved(self) -> LLMConfig:
        """With the environment's defaults filled in (OPENAI_BASE_URL, AGENTHPO_LLM_MODEL)."""
        return replace(self, base_url=self.base_url or os.environ.get("OPENAI_BASE_URL") or None,
                       model=self.model or os.environ.get("AGENTHPO_LLM_MODEL") or None)

    def api_key(self) -> str:
        # Local servers accept any key; the SDK insists on one.
        return os.environ.get(self.api_key_env) or "not-needed"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["prices"] = asdict(self.prices)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LLMConfig:
        """The section from its JSON/YAML mapping; FieldError paths relative to it (`api_key`, `prices.x`)."""
        if not isinstance(data, Mapping):
            raise FieldError("", f"{data!r} must be a mapping")
        for secret in ("api_key", "key", "token"):
            if secret in data:
                raise FieldError(secret, "a key must not be written in a spec; put it in an environment variable "
                                         "and name that variable in llm.api_key_env")
        reject_unknown(data, {f.name for f in fields(cls)})
        data = dict(data)
        with prefixed("prices"):
            prices = Prices.from_json(data.pop("prices", None) or {})
        return cls(**data, prices=prices)
