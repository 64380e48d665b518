# The control image: open-study (data contracts), Creator, analysis and report steps, the MLflow tracking
# server (manifests/base/mlflow) and `agenthpo schedule`. agenthpo with MLflow (+ psycopg2, boto3), KFP,
# Optuna, the OpenAI SDK and great-expectations; no torch, no xgboost, so it stays small and starts fast.
# Names and tags live in components/images.py; `make images` prints the build and push commands.
FROM python:3.11.13-slim-bookworm

# No pip cache in a layer; unbuffered output so that KFP and kubectl logs show lines as they happen.
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg
# A numeric uid with a home: Kubernetes' runAsNonRoot can only verify a numeric USER, and MLflow and
# matplotlib write caches under $HOME.
RUN useradd --uid 1000 --user-group --create-home --shell /usr/sbin/nologin agenthpo

WORKDIR /opt/agenthpo
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY components ./components
COPY pipelines ./pipelines
COPY tracking ./tracking
# A regular (non-editable) install: the import check proves that every subpackage made it into the wheel.
RUN pip install --no-cache-dir -c constraints.txt ".[tracking,pipelines,tpe,llm,contracts]" \
 && cd / && python -c "import agenthpo.agents, agenthpo.llm, agenthpo.components.steps, agenthpo.pipelines, agenthpo.tracking, mlflow, psycopg2, boto3"

WORKDIR /home/agenthpo
USER 1000:1000
