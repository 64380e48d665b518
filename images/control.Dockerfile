# Open-study (data contracts), Creator, analysis and report steps: agenthpo with MLflow, KFP, Optuna, the OpenAI
# SDK and great-expectations; no torch, no xgboost.
# Build from the repository root: docker build -f images/control.Dockerfile -t ghcr.io/agenthpo/agenthpo-control:0.1.0 .
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 MPLBACKEND=Agg
WORKDIR /opt/agenthpo
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY components ./components
COPY pipelines ./pipelines
COPY tracking ./tracking
RUN pip install -c constraints.txt ".[tracking,pipelines,tpe,llm,contracts]"
USER 1000
