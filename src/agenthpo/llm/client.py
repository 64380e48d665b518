"""The one way to reach an LLM: the `openai` SDK against any OpenAI-compatible endpoint.

Timeouts, 429 and 5xx answers are retried with exponential backoff by the SDK itself
(`max_retries`); what still fails is raised as LLMError for the caller's fallback. A refused key
(401/403) is LLMAuthError, which is no fallback: every later call would be refused too, so it stops
the study. Every call's tokens and seconds are counted. What comes back (error texts, answers) is
redacted here, before anything clips or stores it: an endpoint that echoes the key cannot leak it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from agenthpo import names
from agenthpo.llm.config import LLMConfig
from agenthpo.llm.waiting import waiting
from agenthpo.redact import redact, register

log = logging.getLogger(__name__)


ERROR_CHARS = 300  # of the endpoint's error text kept in an LLMError


class LLMError(RuntimeError):
    """The endpoint could not give an answer (after retries)."""


class LLMAuthError(LLMError):
    """The endpoint refused the key (401 or 403): not a fallback, the study stops."""


def auth_error(config: LLMConfig, status: int | None, detail: str) -> LLMAuthError:
    """The error for a refused key: which endpoint, which variable to check; the key itself never."""
    return LLMAuthError(f"the LLM endpoint {redact(config.base_url)} refused the key ({status}): check the key in "
                        f"the environment variable {config.api_key_env} (named by llm.api_key_env); the endpoint "
                        f"said: {redact(detail)[:ERROR_CHARS]}")


@dataclass
class Usage:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    def add(self, other: Usage) -> None:
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.seconds += other.seconds

    def snapshot(self) -> Usage:
        return Usage(self.calls, self.prompt_tokens, self.completion_tokens, self.seconds)

    def since(self, earlier: Usage) -> Usage:
        return Usage(self.calls - earlier.calls, self.prompt_tokens - earlier.prompt_tokens,
                     self.completion_tokens - earlier.completion_tokens, self.seconds - earlier.seconds)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_metrics(self, role: str) -> dict[str, float]:
        """The usage as one role's metrics (`creator_prompt_tokens`, ...; names in `agenthpo.names`)."""
        values = {names.LLM_CALLS: self.calls, names.PROMPT_TOKENS: self.prompt_tokens,
                  names.COMPLETION_TOKENS: self.completion_tokens, names.LLM_SECONDS: self.seconds}
        return {names.usage_metric(role, kind): float(value) for kind, value in values.items()}


@dataclass
class Reply:
    content: str
    usage: Usage
    finish_reason: str = ""
    model: str = ""


@dataclass
class LLMClient:
    config: LLMConfig
    usage: Usage = field(default_factory=Usage)

    def __post_init__(self) -> None:
        import openai

        self.config = self.config.resolved()
        if not self.config.base_url:
            raise LLMError("no LLM endpoint: set llm.base_url in the spec or OPENAI_BASE_URL, "
                           "or start the local one with `agenthpo llm serve`")
        self._openai = openai
        if os.environ.get(self.config.api_key_env):
            register(os.environ[self.config.api_key_env])  # the key this client sends is never written anywhere
        self._client = openai.OpenAI(base_url=self.config.base_url, api_key=self.config.api_key(),
                                     timeout=self.config.timeout, max_retries=self.config.max_retries)

    def check_access(self, timeout: float = 10.0) -> None:
        """Raise LLMAuthError if the endpoint refuses the key, asked once, cheaply (the model list):
        before a study trains anything. Any other failure (unreachable, no model list) is left to the
        Creator's calls and their fallback."""
        try:
            self._client.with_options(max_retries=0, timeout=min(timeout, self.config.timeout)).models.list()
        except (self._openai.AuthenticationError, self._openai.PermissionDeniedError) as exc:
            raise auth_error(self.config, exc.status_code, str(exc)) from None
        except self._openai.OpenAIError:
            return

    @property
    def model(self) -> str:
        return self.config.model or "default"

    def chat(self, messages: list[dict[str, str]], schema: dict[str, Any] | None = None,
             schema_name: str = "answer", max_tokens: int | None = None,
             temperature: float | None = None, seed: int | None = None, agent: str = "LLM") -> Reply:
        kwargs: dict[str, Any] = {}
        if seed is not None:
            kwargs["seed"] = seed  # reproducible sampling where the server supports it (llama.cpp, OpenAI)
        if schema is not None and self.config.structured_output.startswith("json_schema"):
            if self.config.structured_output == "json_schema_portable":
                schema = portable_schema(schema)
            kwargs["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": schema_name, "schema": schema, "strict": True}}
        elif schema is not None and self.config.structured_output == "json_object":
            kwargs["response_format"] = {"type": "json_object"}
        started = time.perf_counter()
        try:
            with waiting(agent):  # shown by the CLI while it waits (`agenthpo.llm.waiting`)
                response = self._client.chat.completions.create(
                    model=self.model, messages=messages, max_tokens=max_tokens or self.config.max_tokens,
                    temperature=self.config.temperature if temperature is None else temperature, **kwargs)
        except self._openai.OpenAIError as exc:
            seconds = time.perf_counter() - started
            self.usage.add(Usage(calls=1, seconds=seconds))
            if isinstance(exc, self._openai.AuthenticationError | self._openai.PermissionDeniedError):
                raise auth_error(self.config, exc.status_code, str(exc)) from None
            # Endpoints may echo the key they received: redacted before it is clipped, so no piece is left.
            raise LLMError(f"{type(exc).__name__} from {redact(self.config.base_url)} after {seconds:.1f}s "
                           f"and up to {self.config.max_retries} retries: {redact(str(exc))[:ERROR_CHARS]}") from None
        seconds = time.perf_counter() - started
        usage = Usage(calls=1, seconds=seconds)
        if response.usage is not None:
            usage.prompt_tokens = int(response.usage.prompt_tokens or 0)
            usage.completion_tokens = int(response.usage.completion_tokens or 0)
        self.usage.add(usage)
        if not response.choices:
            raise LLMError(f"{redact(self.config.base_url)} answered with no choices")
        choice = response.choices[0]
        content = choice.message.content or ""
        if not content and getattr(choice.message, "refusal", None):
            content = str(choice.message.refusal)
        # An answer that repeats the key (a rationale, an analysis) must not carry it into tags and reports.
        return Reply(content=redact(content), usage=usage, finish_reason=choice.finish_reason or "",
                     model=response.model or self.model)


_CONSTRAINTS = {"minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "pattern"}


def portable_schema(schema: Any) -> Any:
    """The schema without the constraints hosted strict modes refuse; enums and types stay."""
    if isinstance(schema, dict):
        return {k: portable_schema(v) for k, v in schema.items() if k not in _CONSTRAINTS}
    if isinstance(schema, list):
        return [portable_schema(v) for v in schema]
    return schema


def parse_json(text: str) -> Any:
    """The JSON object in a reply: the whole text, a ```json fence, or the outermost {...}."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    if "```" in text:
        for block in text.split("```")[1::2]:
            block = block.removeprefix("json").strip()
            try:
                return json.loads(block)
            except json.JSONDecodeError:
                continue
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            return json.loads(text[start:end + 1])
        except json.JSONDecodeError:
            pass
    raise ValueError(f"the reply is not JSON: {text[:200]!r}")
