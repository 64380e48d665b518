"""The one place an MlflowClient is made: every store talks to MLflow through what this returns.

Cross-cutting behaviour of every write (redaction of secrets, retries through a tracking outage) is a
wrapper added here, so no store method can forget it.
"""

from __future__ import annotations

import os

from agenthpo.tracking.redacting import RedactingClient
from agenthpo.tracking.retry import RetryingClient
from mlflow.tracking import MlflowClient


def make_client(tracking_uri: str):
    """An MlflowClient for `tracking_uri`, with the project's wrappers around it."""
    # Reading back a report or a spec is not a download the user asked for: no progress bar on their terminal
    # (a user who sets the variable keeps their choice).
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    client = MlflowClient(tracking_uri=tracking_uri)
    client = RedactingClient(client)  # every text written is redacted (agenthpo.redact)
    client = RetryingClient(client)  # every call retried through a tracking outage (tracking/retry.py)
    return client
