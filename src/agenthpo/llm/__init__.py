"""Reaching LLMs (OpenAI-compatible endpoints, a local llama.cpp server by default)."""

from agenthpo.llm.client import LLMAuthError, LLMClient, LLMError, Reply, Usage, parse_json
from agenthpo.llm.config import LLMConfig, Prices

__all__ = ["LLMAuthError", "LLMClient", "LLMConfig", "LLMError", "Prices", "Reply", "Usage", "parse_json"]
