"""What would make every pod of a cluster run fail, said before anything is submitted."""

from __future__ import annotations

import sys
from urllib.parse import urlparse

from agenthpo.errors import FieldError
from agenthpo.spec import StudySpec


def _local(url: str) -> bool:
    return (urlparse(url).hostname or "") in ("localhost", "127.0.0.1", "::1", "0.0.0.0")


def _check_for_cluster(spec: StudySpec, source: str) -> None:
    """Raise a FieldError for a tracking URI, LLM endpoint or data path the cluster's pods cannot reach."""
    from agenthpo.pipelines.platform import cluster_options

    uri = spec.tracking_uri
    if urlparse(uri).scheme in ("", "file", "sqlite") or _local(uri):
        raise FieldError("tracking_uri", f"{uri!r} is on this machine, which the cluster's pods cannot reach: use "
                         f"an MLflow server they can, e.g. --tracking-uri http://mlflow.agenthpo.svc.cluster.local:5000",
                         source)
    options = cluster_options(spec)
    if spec.uses_llm:
        base_url = spec.llm.base_url
        if not base_url and not any(e.env_name == "OPENAI_BASE_URL" for e in options.env):
            raise FieldError("llm.base_url", "is not set, and pods do not start the local llama.cpp server: name the "
                             "served model's URL (or map OPENAI_BASE_URL in cluster.env)", source)
        if base_url and _local(base_url):
            raise FieldError("llm.base_url", f"{base_url!r} is on this machine, which the cluster's pods cannot "
                             f"reach: use the in-cluster address of the served model", source)
    volume = options.data_volume
    if volume is not None and spec.data and "://" not in spec.data \
            and not spec.data.startswith(volume.mount_path.rstrip("/") + "/"):
        raise FieldError("data", f"{spec.data!r} is not under cluster.data_volume.mount_path "
                         f"{volume.mount_path!r}, where the pods see the data (write the spec's data path with "
                         f"${{AGENTHPO_DATA}} and set AGENTHPO_DATA={volume.mount_path} when submitting)", source)
    if volume is None and spec.data and "://" not in spec.data:
        print(f"agenthpo: note: data {spec.data!r} is a path on this machine; the pods find it only if their image "
              f"or a volume (cluster.data_volume) holds it there", file=sys.stderr)
