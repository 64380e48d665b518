"""The manifests' own commands (SeaweedFS, the bucket script, `mlflow server` on PostgreSQL) run for real as
processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
from manifest_render import (
    MANIFESTS,
    container,
    expand,
    named,
    render,
    resolve_env,
)


# -- the manifests' commands, run for real ---------------------------------------------------------
@pytest.mark.slow
def test_the_manifests_commands_serve_mlflow_on_postgresql_and_s3(tmp_path):
    """SeaweedFS, the bucket script and `mlflow server` with the dev overlay's own command lines, environment
    and Secrets; only addresses, ports and folders are moved to 127.0.0.1 and tmp."""
    from servers import free_port, postgres_bin, start_postgres, weed_bin

    bin_dir = postgres_bin()
    if bin_dir is None:
        why = "PostgreSQL is not installed (no initdb)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    docs = render("overlays/dev")
    host = "127.0.0.1"
    folder = Path(tmp_path)
    processes: list[subprocess.Popen] = []

    def start(command, env, log_name):
        with open(folder / log_name, "w") as log:  # the child keeps its own descriptor
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder,
                                       start_new_session=True)
        processes.append(process)
        return process

    def wait_for(what, ready, process, log_name, seconds=180):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert process.poll() is None, f"{what} exited:\n{(folder / log_name).read_text()[-3000:]}"
            try:
                if ready():
                    return
            except Exception:
                pass
            time.sleep(0.5)
        pytest.fail(f"{what} did not answer in {seconds} s:\n{(folder / log_name).read_text()[-3000:]}")

    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_", "PG"))}
    seaweedfs = named(docs, "StatefulSet", "seaweedfs")
    try:
        # 1. The init container writes SeaweedFS's S3 identities from the Secret.
        init = container(seaweedfs, "s3-config")
        init_env = resolve_env(init, docs)
        config_dir = folder / "config"
        config_dir.mkdir()
        script = init["args"][0].replace("/config/", f"{config_dir}/")
        done = subprocess.run([*init["command"][:-1], "-c", script], env={**base_env, **init_env},
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        identities = json.loads((config_dir / "s3.json").read_text())["identities"]
        assert identities[0]["credentials"] == [{"accessKey": init_env["AWS_ACCESS_KEY_ID"],
                                                 "secretKey": init_env["AWS_SECRET_ACCESS_KEY"]}]

        # 2. `weed server` with the container's arguments.
        weed = container(seaweedfs, "seaweedfs")
        s3_port = free_port()
        moved = {"-dir=/data": f"-dir={folder / 'data'}", "-ip.bind=0.0.0.0": f"-ip.bind={host}",
                 "-s3.port=8333": f"-s3.port={s3_port}",
                 "-s3.config=/config/s3.json": f"-s3.config={config_dir / 's3.json'}"}
        args = [moved.get(a, expand(a, {"POD_IP": host})) for a in weed["args"]]
        assert weed["command"] == ["weed"] and all(a in weed["args"] for a in moved)
        # Other ports than the defaults, which another test or server may hold on this machine.
        args += [f"-{n}.port={free_port()}" for n in ("master", "volume", "filer")]
        args += [f"-{n}.port.grpc={free_port()}" for n in ("master", "volume", "filer", "s3")]
        args += [f"-filer.localSocket={folder / 'f.sock'}", f"-s3.localSocket={folder / 's.sock'}"]
        (folder / "data").mkdir()
        weed_process = start([str(weed_bin()), *args], base_env, "weed.log")
        endpoint = f"http://{host}:{s3_port}"

        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=init_env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=init_env["AWS_SECRET_ACCESS_KEY"])
        wait_for("SeaweedFS S3", lambda: s3.list_buckets() is not None, weed_process, "weed.log", 120)

        # 3. The MLflow pod's init container: creates the bucket, then finds it; wrong keys fail clearly.
        deployment = named(docs, "Deployment", "mlflow")
        bucket_box = container(deployment, "create-bucket")
        bucket_env = {**base_env, **resolve_env(bucket_box, docs), "MLFLOW_S3_ENDPOINT_URL": endpoint}
        script = MANIFESTS / "base" / "mlflow" / Path(bucket_box["command"][-1]).name
        bucket = urlparse(bucket_env["MLFLOW_ARTIFACTS_DESTINATION"]).netloc
        for expected in (f"created bucket {bucket}", f"bucket {bucket} exists"):
            done = subprocess.run([sys.executable, str(script)], env=bucket_env, capture_output=True, text=True,
                                  timeout=420)
            assert done.returncode == 0 and expected in done.stdout, done.stdout + done.stderr
        done = subprocess.run([sys.executable, str(script)], env={**bucket_env, "AWS_SECRET_ACCESS_KEY": "wrong"},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and "agenthpo-s3" in done.stderr, done.stdout + done.stderr

        # 4. `mlflow server` with the container's arguments, on PostgreSQL with the dev Secret's password.
        server = container(deployment, "mlflow")
        server_env = {**base_env, **resolve_env(server, docs), "MLFLOW_S3_ENDPOINT_URL": endpoint}
        backend = urlparse(next(a for a in server["args"] if a.startswith("--backend-store-uri=")).split("=", 1)[1])
        with start_postgres(bin_dir, database=backend.path.lstrip("/"), user=backend.username,
                            password=server_env["PGPASSWORD"]) as postgres:
            port = free_port()
            moved = {f"@{backend.hostname}:{backend.port}/": f"@{host}:{postgres.port}/",
                     "--host=0.0.0.0": f"--host={host}", "--port=5000": f"--port={port}"}
            args = []
            for arg in server["args"]:
                for old, new in moved.items():
                    arg = arg.replace(old, new)
                args.append(expand(arg, server_env))
            mlflow_bin = Path(sys.executable).parent / server["command"][0]
            mlflow_process = start([str(mlflow_bin), *server["command"][1:], *args], server_env, "mlflow.log")
            url = f"http://{host}:{port}"
            wait_for("mlflow server", lambda: urllib.request.urlopen(f"{url}/health", timeout=3).status == 200,
                     mlflow_process, "mlflow.log", 300)

            def status(host_header: str) -> int:
                request = urllib.request.Request(f"{url}/api/2.0/mlflow/experiments/search?max_results=1",
                                                 headers={"Host": host_header})
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        return response.status
                except urllib.error.HTTPError as exc:
                    return exc.code

            tracking = urlparse(named(docs, "ConfigMap", "agenthpo-config")["data"]["MLFLOW_TRACKING_URI"])
            assert status(tracking.netloc) == 200, "pipeline pods' Host header is refused"
            assert status("attacker.example:5000") >= 400

            from mlflow.tracking import MlflowClient

            client = MlflowClient(url)
            run = client.create_run(client.create_experiment("manifests"))
            client.log_text(run.info.run_id, "hello", "note.txt")
            prefix = urlparse(server_env["MLFLOW_ARTIFACTS_DESTINATION"]).path.lstrip("/")
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
            assert any(k.endswith(f"{run.info.run_id}/artifacts/note.txt") for k in keys), keys
            with postgres.connect() as connection, connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM runs WHERE run_uuid = %s", (run.info.run_id,))
                assert cursor.fetchone()[0] == 1
            mlflow_process.terminate()
            mlflow_process.wait(timeout=60)
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
