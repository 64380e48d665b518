"""One redaction for every text that leaves the process: the configured secret values and URL credentials.

What is replaced by `[REDACTED]`:
- the value of every registered environment variable: each LLMConfig's `api_key_env` (registered when
  the config is made), OPENAI_API_KEY and the tracking/storage secrets below, read when redacting, so a
  key set later is covered too; and every value given to `register`;
  also their JSON-escaped, repr and URL-quoted forms, and a piece of one (at least `PARTIAL_CHARS`
  characters from its start or end), which is what clipped text leaves of it;
- credentials in URLs: `scheme://user:pass@host` -> `scheme://[REDACTED]@host`;
- bearer tokens (`Bearer abc...`) and long `sk-...` tokens, whoever's they are.

`redact(text)` is for logs, stdout and artifacts; `clean(text)` also strips terminal colour codes,
for tags and notes. Both are cheap (a few `str.replace`/`find` and one regex pass), so every write can
call them. `install()` routes the process's log records and stdout/stderr through `redact`: the CLI
calls it first, and so does every pipeline step.

A value shorter than `MIN_SECRET_CHARS` is not treated as a secret: replacing it would garble ordinary
text, and no real key is that short.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from typing import Any
from urllib.parse import quote

REDACTED = "[REDACTED]"
MIN_SECRET_CHARS = 8
PARTIAL_CHARS = 10  # a run this long of a secret's start or end is redacted too (clipped text)

# Environment variables whose values are secrets wherever they are set (the LLM key, the tracking
# server's and the artifact store's credentials, a model hub token).
DEFAULT_SECRET_ENVS = ("OPENAI_API_KEY", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
                       "AWS_SECRET_ACCESS_KEY", "HF_TOKEN")

_secret_envs: set[str] = set(DEFAULT_SECRET_ENVS)
_explicit: set[str] = set()
_compiled: tuple[tuple[str, ...], tuple[tuple[str, ...], ...]] = ((), ())

_PATTERNS = re.compile(
    r"(?P<url>\b[A-Za-z][A-Za-z0-9+.\-]*://)[^\s/@?#]+@"  # userinfo of a URL
    r"|(?P<bearer>\b[Bb]earer\s+)[A-Za-z0-9._~+/=\-]{8,}"  # an Authorization header's token
    r"|\bsk-[A-Za-z0-9_\-]{16,}"  # OpenAI-style keys (sk-..., sk-proj-...)
)
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def register_env(name: str) -> None:
    """Treat the value of environment variable `name` as a secret (read at each redaction)."""
    if isinstance(name, str) and name:
        _secret_envs.add(name)


def register(secret: str) -> None:
    """Treat `secret` itself as a secret from now on."""
    if isinstance(secret, str) and len(secret) >= MIN_SECRET_CHARS:
        _explicit.add(secret)


def secrets() -> tuple[str, ...]:
    """The secret values known now (registered values, and the registered variables' values)."""
    found = set(_explicit)
    for name in _secret_envs:
        value = os.environ.get(name)
        if value and len(value.strip()) >= MIN_SECRET_CHARS:
            found.add(value.strip())
    return tuple(sorted(found, key=len, reverse=True))


def _forms(secrets_now: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """For each secret: the forms it takes in text (as is, JSON-escaped, repr, URL-quoted), longest first."""
    global _compiled
    if _compiled[0] != secrets_now:
        forms = []
        for secret in secrets_now:
            variants = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
                        repr(secret)[1:-1], quote(secret, safe="")}
            forms.append(tuple(sorted(variants, key=len, reverse=True)))
        _compiled = (secrets_now, tuple(forms))
    return _compiled[1]


def _pieces(text: str, secret: str) -> list[tuple[int, int]]:
    """Spans of `text` that are a clipped piece of `secret`: a run of its start (cut on the right) or of
    its end (cut on the left), at least PARTIAL_CHARS long."""
    size = min(len(secret), PARTIAL_CHARS)
    spans = []
    head, tail = secret[:size], secret[-size:]
    start = text.find(head)
    while start >= 0:
        end = start + size
        while end < len(text) and end - start < len(secret) and text[end] == secret[end - start]:
            end += 1
        spans.append((start, end))
        start = text.find(head, end)
    end = text.find(tail)
    while end >= 0:
        stop = end + size  # the piece ends here; extend it to the left while it matches the secret's end
        begin, matched = end, size
        while begin > 0 and matched < len(secret) and text[begin - 1] == secret[-matched - 1]:
            begin -= 1
            matched += 1
        spans.append((begin, stop))
        end = text.find(tail, stop)
    return spans


def _replace_spans(text: str, spans: list[tuple[int, int]]) -> str:
    out, at = [], 0
    for start, end in sorted(spans):
        if end <= at:
            continue
        out.append(text[at:max(start, at)])
        out.append(REDACTED)
        at = end
    out.append(text[at:])
    return "".join(out)


def _pattern(match: re.Match) -> str:
    if match.group("url"):
        return f"{match.group('url')}{REDACTED}@"
    if match.group("bearer"):
        return f"{match.group('bearer')}{REDACTED}"
    return REDACTED


def redact(text: Any) -> Any:
    """`text` with every secret value, clipped piece of one, URL credential and token replaced by
    [REDACTED]. Anything that is not a string is returned as it is."""
    if not isinstance(text, str) or not text:
        return text
    for forms in _forms(secrets()):
        for form in forms:
            if form in text:
                text = text.replace(form, REDACTED)
        spans = [span for form in forms for span in _pieces(text, form)]
        if spans:
            text = _replace_spans(text, spans)
    return _PATTERNS.sub(_pattern, text)


def strip_ansi(text: str) -> str:
    """`text` without terminal control sequences (colours, cursor moves)."""
    return _ANSI.sub("", text) if "\x1b" in text else text


def clean(text: Any) -> Any:
    """What a tag, note or parameter holds: redacted, and without terminal colour codes."""
    return strip_ansi(redact(text)) if isinstance(text, str) else text


def redact_bytes(data: bytes) -> bytes:
    """Bytes with every secret value replaced (binary files: no pattern, no pieces; text: the full redaction)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        for secret in secrets():
            raw = secret.encode()
            if raw in data:
                data = data.replace(raw, REDACTED.encode())
        return data
    redacted = redact(text)
    return data if redacted == text else redacted.encode("utf-8")


# -- the process's exits: log records and the standard streams --------------------------------------
class RedactingFilter(logging.Filter):
    """Redacts a log record's message, arguments, traceback and stack in place; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_agenthpo_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 (a malformed record: logging reports it itself)
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._agenthpo_redacted = True
        return True


class RedactingStream:
    """A text stream that redacts what is written to it and passes everything else to the stream it wraps."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


_FILTER = RedactingFilter()
LOGGERS = ("", "agenthpo", "openai", "httpx", "httpcore", "urllib3", "mlflow", "kfp")
_factory_installed = False


def install_log_redaction() -> None:
    """Redact every log record: the filter on the project's and its libraries' loggers and on the root's
    handlers, and the record factory (records of any logger, whatever handler a library adds later)."""
    global _factory_installed
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    if not _factory_installed:
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs):
            record = previous(*args, **kwargs)
            _FILTER.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        _factory_installed = True


def install() -> None:
    """Route this process's log records and its stdout/stderr through `redact` (idempotent)."""
    install_log_redaction()
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))
