"""A step's body run here, or handed to the local runner's warm worker (standard library only).

On KFP's local runner every step is a fresh Python process; importing the MLflow stack there cost about
5 s of CPU per step (issue 14). `agenthpo tune` therefore starts a warm worker (`agenthpo.pipelines.warm`)
that has imported it once, and names its socket in $AGENTHPO_WARM_STEPS. A step process that finds it
hands its body over: the worker forks a child that takes over the step's stdin, stdout and stderr (passed
as file descriptors), its environment and working directory, runs the body of `agenthpo.components.bodies`
and sends back the result. The step process then ends as the child ended: the same result, the same
traceback for an exception, the same exit status for a child that exited or was killed by a signal (a
SIGKILLed training child makes its step process die by SIGKILL, as an OOM kill did before). Without the
variable (a pod on a cluster) or when the worker cannot be reached, the body runs in this process.

Messages are JSON objects, one per line: the step sends its request; the child answers {"result": ...}
or {"error": traceback}; the worker adds {"exit": status} (os.waitpid's) once the child is gone. The step
ends on the child's answer (the child has given its stdio back by then); it waits for the exit status only
when no answer came (the child died).
"""

from __future__ import annotations

import array
import json
import os
import signal
import socket
import sys
from contextlib import suppress
from typing import Any

SOCKET_ENV = "AGENTHPO_WARM_STEPS"
STDIO = (0, 1, 2)
ANSWERS = ("result", "error")  # the child's messages: either ends the step


class StepFailed(RuntimeError):
    """The body raised in the warm worker's child: its traceback is the message."""


def run_body(name: str, **kwargs: Any) -> str:
    """The body `name` of `agenthpo.components.bodies` with `kwargs`: in the warm worker when there is one."""
    path = os.environ.get(SOCKET_ENV, "")
    connection = _connect(path) if path else None
    if connection is None:
        from agenthpo.components import bodies

        return getattr(bodies, name)(**kwargs)
    with connection:
        request = {"body": name, "kwargs": kwargs, "env": dict(os.environ), "cwd": os.getcwd(), "pid": os.getpid()}
        sys.stdout.flush()
        sys.stderr.flush()
        connection.sendmsg([encode(request)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", STDIO))])
        answers = read_messages(connection, until=ANSWERS)
    return _as_step(answers)


def _connect(path: str) -> socket.socket | None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError:  # no worker (it is gone, or never started): the body runs here
        connection.close()
        return None
    return connection


def _as_step(answers: dict[str, Any]) -> str:
    """End as the child ended: its result, its exception, its exit status or its signal."""
    if "result" in answers:
        return answers["result"]
    if "error" in answers:
        raise StepFailed(answers["error"])
    status = answers.get("exit", 1 << 8)
    if os.WIFSIGNALED(status):
        sys.stdout.flush()
        sys.stderr.flush()
        with suppress(OSError, ValueError):  # SIGKILL has no handler to reset
            signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) and os.WEXITSTATUS(status) else 1)


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message) + "\n").encode()


def read_messages(connection: socket.socket, until: tuple[str, ...] = ()) -> dict[str, Any]:
    """The messages until the other side closes, merged into one mapping; with `until`, only until the first
    complete message that has one of those keys."""
    data, merged = b"", {}
    while chunk := connection.recv(65536):
        data += chunk
        *lines, data = data.split(b"\n")
        for line in lines:
            if line.strip():
                merged.update(json.loads(line))
        if any(key in merged for key in until):
            return merged
    if data.strip():  # a last message without its newline
        merged.update(json.loads(data))
    return merged
