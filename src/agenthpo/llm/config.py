"""Where the LLM is and how to talk to it. The API key is never part of a spec: only the name of
the environment variable that holds it, so specs, tags and artifacts cannot leak it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
# json_schema: the full schema (llama.cpp, vLLM and Ollama grammars enforce bounds and lengths);
# json_schema_portable: without numeric, length and item-count constraints, which hosted APIs' strict
# modes refuse (values are still validated client-side); json_object: JSON mode, the schema in the prompt.
STRUCTURED_MODES = ("json_schema", "json_schema_portable", "json_object", "none")


@dataclass(frozen=True)
class Prices:
    """USD per million tokens; zero for a local model."""

    prompt_per_million: float = 0.0
    completion_per_million: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt_per_million + completion_tokens * self.completion_per_million) / 1e6


@dataclass(frozen=True)
class LLMConfig:
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
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"llm.temperature={self.temperature!r} outside [0, 2]")
        if self.timeout <= 0:
            raise ValueError(f"llm.timeout={self.timeout!r} must be > 0 seconds")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"llm.max_retries={self.max_retries!r} must be an integer >= 0")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 16:
            raise ValueError(f"llm.max_tokens={self.max_tokens!r} must be an integer >= 16")
        if self.structured_output not in STRUCTURED_MODES:
            raise ValueError(f"llm.structured_output={self.structured_output!r} not one of {list(STRUCTURED_MODES)}")

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
        data = dict(data)
        for secret in ("api_key", "key", "token"):
            if secret in data:
                raise ValueError(f"llm.{secret}: a key must not be written in a spec; put it in an environment "
                                 f"variable and name that variable in llm.api_key_env")
        allowed = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"llm.{unknown[0]}: unknown field (allowed: {sorted(allowed)})")
        prices = data.pop("prices", None) or {}
        if not isinstance(prices, Mapping):
            raise ValueError(f"llm.prices={prices!r} must be a mapping")
        unknown_prices = sorted(set(prices) - {"prompt_per_million", "completion_per_million"})
        if unknown_prices:
            raise ValueError(f"llm.prices.{unknown_prices[0]}: unknown field "
                             f"(allowed: ['completion_per_million', 'prompt_per_million'])")
        for numeric in ("temperature", "timeout"):
            if numeric in data and (not isinstance(data[numeric], int | float) or isinstance(data[numeric], bool)):
                raise ValueError(f"llm.{numeric}={data[numeric]!r} must be a number")
        return cls(**data, prices=Prices(**{k: float(v) for k, v in prices.items()}))
