"""The local runner's warm worker: step bodies run in children forked from a process that imported the
MLflow stack once (the step side is `agenthpo.components.handoff`).

A pipeline run (`agenthpo.pipelines.chunk`) starts one (`start`) in its own process group, so that
everything that stops the run's steps (the driver's signals, its timeout backstop, its death) stops the
worker and its children too. The worker imports what the steps need (`PRELOAD`, the task plug-in's
`warm_imports`, and the OpenAI SDK for an LLM study), then, single-threaded so that forking is safe,
accepts a step per connection:
- it brings its view of the study's trials up to date (`agenthpo.tracking.runs_cache`: only what is new),
  and, before a Creator step, TPE's kept Optuna study: the child, which inherits both, neither reads the
  whole history again nor replays it into Optuna. The store is opened (its schema checked once, for every
  child) as soon as the driver says it exists (`store_marker`), and every refresh closes the connections
  again (a child makes its own);
- it freezes its heap before each fork (`freeze_heap`): a child's full garbage collection would otherwise
  walk the whole inherited heap, about 0.4 s, in every other training step;
- it forks a child, which takes the step's stdin, stdout and stderr, environment and working directory,
  runs the body, gives the step's stdio back, writes {"result": ...} or {"error": traceback} and exits
  (the step ends on that answer, not on the child's exit);
- it reaps children and sends each step {"exit": status}; a child whose step process is gone (killed
  on its own) kills itself.
Torch is never imported before a fork (its thread pools do not survive one): plug-ins that use it import
it inside train(), in the child.
"""

from __future__ import annotations

import array
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from contextlib import suppress
from pathlib import Path

from agenthpo.components.handoff import STDIO, encode

PRELOAD = ("agenthpo.components.bodies", "agenthpo.tracking", "agenthpo.executor", "agenthpo.report",
           "agenthpo.plots", "matplotlib.pyplot", "optuna", "agenthpo.llm.client")
REAP_SECONDS = 0.05
_SOCKET_PATH_BYTES = 100  # a Unix socket's path has at most 107 bytes on Linux (104 on macOS)
_WATCH_SECONDS = 1.0


def start(tracking_uri: str, task: str, folder: Path, uses_llm: bool = False,
          store_marker: str = "") -> tuple[subprocess.Popen, str]:
    """Start a worker for this pipeline run; (its process, the socket path to export as SOCKET_ENV once
    `ready`). `uses_llm`: the steps call an LLM, so the worker imports the OpenAI SDK too. `store_marker`:
    a file that appears once the driver has created the store (two processes must not create a SQLite
    schema together); the worker opens the store then, before its first step needs it ("": at once)."""
    path = str(Path(tempfile.mkdtemp(prefix="warm-", dir=folder)) / "steps.sock")
    if len(os.fsencode(path)) > _SOCKET_PATH_BYTES:  # a deep work folder: the system's temporary one
        os.rmdir(os.path.dirname(path))
        path = str(Path(tempfile.mkdtemp(prefix="agenthpo-warm-")) / "steps.sock")
    process = subprocess.Popen([sys.executable, "-m", "agenthpo.pipelines.warm", path, tracking_uri, task,
                                "llm" if uses_llm else "-", store_marker or "-"], stdin=subprocess.DEVNULL)
    return process, path


def ready(process: subprocess.Popen, path: str, seconds: float = 120.0) -> bool:
    """Wait until the worker accepts steps (its socket appears); False when it died or took too long (the
    steps then run their bodies themselves)."""
    deadline = time.monotonic() + seconds
    while not os.path.exists(path) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return os.path.exists(path) and process.poll() is None


def preload(task: str, uses_llm: bool = False) -> None:
    """Import what the steps need (the store is opened later: `serve`)."""
    import matplotlib

    matplotlib.use("Agg")
    for module in PRELOAD:
        importlib.import_module(module)
    from agenthpo.tasks import load_task

    try:
        for module in getattr(load_task(task), "warm_imports", ()):
            importlib.import_module(module)
    except Exception:  # noqa: BLE001 (a plug-in that does not load fails in its steps, which say why)
        pass
    if uses_llm:  # about 0.8 s a step otherwise: the SDK and the chat resources it loads on first use
        import openai

        openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="-").chat.completions  # noqa: B018


def freeze_heap() -> None:
    """Collect the garbage there is, then exempt every object still alive from later collections
    (`gc.freeze`). The worker holds about 430,000 objects once it has imported the MLflow stack, matplotlib
    and the OpenAI SDK, and a full collection walks all of them: 0.39 s each, in 5 of a demo's 10 training
    steps. Python's documentation advises it before fork() without exec(): a child's collection then walks
    only what the child made, and does not write to the pages it inherited (copy-on-write). Frozen objects
    are still freed by reference counting; only a garbage cycle among them would stay, which is why the
    collection comes first."""
    gc.collect()
    gc.freeze()


def _open_store(tracking_uri: str) -> None:
    """Open the store once (a SQLite schema is checked here, not in every child) and close its connections."""
    from agenthpo.components.runtime import store_for

    with suppress(Exception):  # a warm store is an optimisation: the children open it themselves
        store_for(tracking_uri).client.search_experiments(max_results=1)
        _disconnect(tracking_uri)


def _disconnect(tracking_uri: str) -> None:
    """Close the pooled database connections: no connection crosses a fork (each child opens its own)."""
    from mlflow.tracking._tracking_service.utils import _get_store

    engine = getattr(_get_store(tracking_uri), "engine", None)
    if engine is not None:
        engine.dispose()


def _refresh(message: dict, tracking_uri: str, studies: set[str]) -> None:
    """Bring the kept view of the studies seen so far up to date (O(new)) before a fork, and before a
    Creator step TPE's kept Optuna study: the child, which inherits both, neither reads the whole history
    again nor replays it into Optuna."""
    from agenthpo.components.runtime import store_for

    try:
        study_json = message["kwargs"].get("study_json")
        if study_json:
            studies.add(json.loads(study_json)["study_id"])
        store = store_for(tracking_uri)
        histories = {study_id: store.history(study_id) for study_id in studies}
        for study_id in studies:  # the claims too: a Creator step checks them twice
            store.book.trial_claims(study_id)
        if message["body"] == "creator" and study_json:
            from agenthpo.proposers.tpe import keep_study
            from agenthpo.spec import StudySpec

            spec = StudySpec.from_json(json.loads(message["kwargs"]["spec_json"]))
            keep_study(spec.objective, spec.space, histories[json.loads(study_json)["study_id"]])
        _disconnect(tracking_uri)
    except Exception:  # noqa: BLE001 (a warm view is an optimisation: the child reads what it needs)
        with suppress(Exception):
            _disconnect(tracking_uri)


def serve(path: str, tracking_uri: str, store_marker: str = "") -> None:
    """Accept steps until killed; every child is reaped and its status sent to its step. The store is
    opened once `store_marker` exists (at once without one), or by the first step's refresh."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    os.rename(path + ".tmp", path)  # the path appears once it accepts
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    waiting: dict[int, socket.socket] = {}  # child pid -> its step's connection
    studies: set[str] = set()  # the study runs the steps named so far
    while True:
        if store_marker is not None and (not store_marker or os.path.exists(store_marker)):
            _open_store(tracking_uri)
            store_marker = None
        for _ in selector.select(REAP_SECONDS):
            connection, _ = listener.accept()
            pid = _fork_step(connection, listener, lambda message: _refresh(message, tracking_uri, studies))
            if pid is None:
                connection.close()
            else:
                waiting[pid] = connection
        _reap(waiting)


def _reap(waiting: dict[int, socket.socket]) -> None:
    while waiting:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = waiting.pop(pid, None)
        if connection is not None:
            try:
                connection.sendall(encode({"exit": status}))
            except OSError:  # the step process is gone
                pass
            connection.close()


def _fork_step(connection: socket.socket, listener: socket.socket, before_fork) -> int | None:
    """Read the request with its file descriptors and fork the child that runs it; the child's pid."""
    message, fds = _receive(connection)
    if message is None:
        return None
    before_fork(message)
    freeze_heap()  # after the refresh: the child inherits the view frozen too
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        return pid
    listener.close()
    code = 1
    try:
        _become_step(message, fds)
        try:
            answer = {"result": importlib.import_module("agenthpo.components.bodies").__dict__[message["body"]](
                **message["kwargs"])}
        except BaseException:  # noqa: BLE001 (the step's process reports it, as its own body would)
            from agenthpo.redact import redact

            answer = {"error": redact(traceback.format_exc())}
        _release_stdio()
        connection.sendall(encode(answer))
        code = 0
    finally:
        os._exit(code)


def _receive(connection: socket.socket) -> tuple[dict | None, list[int]]:
    fds = array.array("i")
    data, ancillary, _, _ = connection.recvmsg(1 << 20, socket.CMSG_SPACE(len(STDIO) * fds.itemsize))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    while data and not data.endswith(b"\n"):
        more = connection.recv(1 << 20)
        if not more:
            break
        data += more
    try:
        message = json.loads(data)
    except ValueError:
        message = None
    if message is None or len(fds) != len(STDIO):
        for fd in fds:
            os.close(fd)
        return None, []
    return message, list(fds)


def _release_stdio() -> None:
    """In the child, once the body is done: hand the step's stdin, stdout and stderr back (pointed at
    /dev/null here). KFP's runner reads a step's output until no process holds it, so the step can end as
    soon as it has the answer instead of waiting for this child's exit and reaping (about 0.09 s a step)."""
    sys.stdout.flush()
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_RDWR)
    for target in STDIO:
        os.dup2(devnull, target)
    os.close(devnull)


def _become_step(message: dict, fds: list[int]) -> None:
    """In the child: the step's stdio, environment and folder; default signals; die with the step."""
    for target, fd in zip(STDIO, fds, strict=True):
        os.dup2(fd, target)
        os.close(fd)
    gc.enable()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
        signal.signal(signum, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(message["env"])
    os.chdir(message["cwd"])
    step = int(message["pid"])

    def watch() -> None:
        while True:
            time.sleep(_WATCH_SECONDS)
            try:
                os.kill(step, 0)
            except ProcessLookupError:
                os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()


def _main(argv: list[str]) -> int:
    path, tracking_uri, task, llm, marker = argv
    if sys.platform.startswith("linux"):  # gone with the pipeline run that started it, even by SIGKILL
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    # Python's advice for fork() without exec(): no automatic collection here (the imports alone set off
    # several full ones), an explicit one before each fork (`freeze_heap`), collection on in each child.
    gc.disable()
    preload(task, uses_llm=llm == "llm")
    freeze_heap()  # the imports, once, before any step waits for a fork
    serve(path, tracking_uri, "" if marker == "-" else marker)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
