"""Every call to MLflow through a tracking outage: retried with bounded exponential backoff.

`RetryingClient` wraps an MlflowClient (see `client.make_client`) and retries a call that failed for a
reason that goes away by itself: the server unreachable (connection refused or reset, timeouts), a 5xx
without an answer from MLflow (a proxy's 502/503/504), TEMPORARILY_UNAVAILABLE (MLflow's answer when
its database is unreachable or locked) and rate limits. Everything else is raised at once, untouched:
RESOURCE_ALREADY_EXISTS (a claim lost to another driver), INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST,
an INTERNAL_ERROR answered by the server (a bug does not go away by waiting).

The budget is `$AGENTHPO_TRACKING_RETRY_SECONDS` (default 600: a server restart or a short outage);
past it the call raises `agenthpo.faults.TrackingUnavailable` from the last error. MLflow's own HTTP
retries (`MLFLOW_HTTP_REQUEST_MAX_RETRIES`, about 4 minutes) run inside each attempt.

A retried call that had reached the server before its answer was lost runs twice: `create_experiment`
then raises RESOURCE_ALREADY_EXISTS (the claim looks lost: a slot is given up, never taken twice), and
`create_run` leaves an extra RUNNING run, which a resume marks INTERRUPTED (not counted).
"""

from __future__ import annotations

import functools
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from mlflow.exceptions import MlflowException, RestException
from mlflow.protos.databricks_pb2 import (
    DEADLINE_EXCEEDED,
    REQUEST_LIMIT_EXCEEDED,
    RESOURCE_EXHAUSTED,
    TEMPORARILY_UNAVAILABLE,
    ErrorCode,
)

from agenthpo.faults import TrackingUnavailable, env_seconds

RETRY_SECONDS_ENV = "AGENTHPO_TRACKING_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 600.0
FIRST_DELAY, MAX_DELAY = 1.0, 30.0
_RETRYABLE_CODES = {ErrorCode.Name(code) for code in (TEMPORARILY_UNAVAILABLE, REQUEST_LIMIT_EXCEEDED,
                                                      RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED)}
# MLflow's words for a request that never got an answer from the server, and for a 5xx that was not MLflow's.
_TRANSPORT = re.compile(r"API request to .* failed with (timeout )?exception|failed with error code 5\d\d")
# Connection failures of the libraries under MLflow's artifact stores (requests, urllib3, botocore).
_CONNECTION_ERRORS = {"ConnectionError", "ConnectTimeout", "ReadTimeout", "Timeout", "ChunkedEncodingError",
                      "ProtocolError", "NewConnectionError", "MaxRetryError", "EndpointConnectionError",
                      "ConnectionClosedError", "ConnectTimeoutError", "ReadTimeoutError"}


def retry_seconds() -> float:
    """The retry budget from $AGENTHPO_TRACKING_RETRY_SECONDS (seconds, >= 0), else the default."""
    return env_seconds(RETRY_SECONDS_ENV, DEFAULT_RETRY_SECONDS)


def retryable(exc: BaseException) -> bool:
    """True for a failure that waiting can cure: the server unreachable, overloaded or restarting."""
    if isinstance(exc, MlflowException):
        code = exc.error_code
        if code in _RETRYABLE_CODES:
            return True
        # The server answered with its own error: only the codes above are worth waiting for.
        return not isinstance(exc, RestException) and bool(_TRANSPORT.search(str(exc.message)))
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    if any(cls.__name__ in _CONNECTION_ERRORS for cls in type(exc).__mro__):
        return True
    response = getattr(exc, "response", None)  # requests.HTTPError from an artifact upload or download
    status = getattr(response, "status_code", None)
    return isinstance(status, int) and 500 <= status < 600


def _describe(exc: BaseException) -> str:
    # The class and MLflow's code only: messages carry URLs, which may carry credentials.
    code = getattr(exc, "error_code", None)
    return f"{type(exc).__name__}{f' {code}' if code else ''}"


class RetryingClient:
    """An MlflowClient whose every method retries through a tracking outage (see the module)."""

    def __init__(self, client: Any, seconds: float | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self._client = client
        self._seconds = retry_seconds() if seconds is None else seconds
        self._sleep, self._clock = sleep, clock

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        if name.startswith("_") or not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._call(name, value, args, kwargs)

        return call

    def _call(self, name: str, method: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        started, delay, failures = self._clock(), FIRST_DELAY, 0
        while True:
            try:
                result = method(*args, **kwargs)
            except Exception as exc:
                if not retryable(exc):
                    raise
                failures += 1
                waited = self._clock() - started
                if waited + delay > self._seconds:
                    raise TrackingUnavailable(
                        f"the tracking server did not answer {name} for {waited:.0f} s ({_describe(exc)}; "
                        f"retried for up to {self._seconds:g} s, ${RETRY_SECONDS_ENV})") from exc
                if failures == 1:
                    print(f"agenthpo: the tracking server did not answer {name} ({_describe(exc)}); retrying "
                          f"for up to {self._seconds:g} s", file=sys.stderr, flush=True)
                self._sleep(delay)
                delay = min(delay * 2, MAX_DELAY)
                continue
            if failures:
                print(f"agenthpo: the tracking server answers again ({name}, after {failures} retries)",
                      file=sys.stderr, flush=True)
            return result
