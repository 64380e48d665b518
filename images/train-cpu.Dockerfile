# Training steps on CPU nodes: agenthpo with MLflow, KFP, the tabular stack (xgboost-cpu) and the torch
# plug-ins (vision, text, graph, recsys).
# torch comes from PyTorch's CPU wheel index: PyPI's torch is the CUDA build, whose nvidia-* libraries add
# several GB that a CPU node never loads. The constraint torch==X matches the index's X+cpu (PEP 440 ignores
# the local label) and pip prefers it, so constraints.txt stays the one place for versions.
# Names and tags live in components/images.py; `make images` prints the build and push commands.
FROM python:3.11.13-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg
# xgboost links against the system's OpenMP runtime.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*
RUN useradd --uid 1000 --user-group --create-home --shell /usr/sbin/nologin agenthpo

WORKDIR /opt/agenthpo
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY components ./components
COPY pipelines ./pipelines
COPY tracking ./tracking
RUN pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -c constraints.txt \
      ".[tracking,pipelines,tpe,xgboost,vision,text,graph,recsys]" \
 && cd / && python -c "import agenthpo.agents, agenthpo.components.steps, agenthpo.tracking, torch, torch_geometric, xgboost; assert torch.version.cuda is None, 'expected the CPU build of torch'"

WORKDIR /home/agenthpo
USER 1000:1000
