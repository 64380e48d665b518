# Training steps on GPU nodes: the CPU training image's plug-ins with torch's CUDA build.
# Why python:3.11-slim and not nvidia/cuda: torch's wheels on PyPI are the CUDA build and bring the CUDA
# runtime, cuDNN, cuBLAS and NCCL as nvidia-* wheels (pinned in constraints.txt, CUDA 13.0 for torch 2.14).
# An nvidia/cuda base would install the same libraries a second time (GBs) and need Python 3.11 from
# deadsnakes; only the driver comes from the node (NVIDIA device plugin or GPU operator), and CUDA 13.0
# wants driver >= 580. Same Python and OS as the other images, so a trial behaves the same on CPU and GPU.
# Names and tags live in components/images.py; `make images` prints the build and push commands.
FROM python:3.11.13-slim-bookworm

# The NVIDIA_* variables are what nvidia/cuda images set, so the NVIDIA container runtime mounts the
# compute driver into this image too.
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
# xgboost links against the system's OpenMP runtime (tabular trials train on the CPU: xgboost-cpu).
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*
RUN useradd --uid 1000 --user-group --create-home --shell /usr/sbin/nologin agenthpo

WORKDIR /opt/agenthpo
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY components ./components
COPY pipelines ./pipelines
COPY tracking ./tracking
# No GPU at build time, so the check is that the CUDA build was installed, not that a GPU is visible.
RUN pip install --no-cache-dir -c constraints.txt ".[tracking,pipelines,tpe,xgboost,vision,text,graph,recsys]" \
 && cd / && python -c "import agenthpo.agents, agenthpo.components.steps, agenthpo.tracking, torch, torch_geometric, xgboost; assert torch.version.cuda, 'expected the CUDA build of torch'"

WORKDIR /home/agenthpo
USER 1000:1000
