# Training steps on CPU nodes: agenthpo with MLflow, KFP, the tabular stack (xgboost-cpu) and the torch plug-ins
# (torch from PyPI is its CUDA build, which runs on CPU too; a registry mirror of the CPU wheels would shrink it).
# Build from the repository root: docker build -f images/train-cpu.Dockerfile -t ghcr.io/agenthpo/agenthpo-train-cpu:0.1.0 .
FROM python:3.11-slim
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 MPLBACKEND=Agg
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/agenthpo
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY components ./components
COPY pipelines ./pipelines
COPY tracking ./tracking
RUN pip install -c constraints.txt ".[tracking,pipelines,tpe,xgboost,vision,text,graph,recsys]"
USER 1000
