# rag as a service: `rag serve` (OpenAI-compatible + native API + chat page) over a mounted corpus and index.
# The default model is fetched at build time, so a container starts offline. docs/docker.md.
FROM python:3.11-slim

# llama-cpp-python compiles llama.cpp (~4 min on 2 cores, once per image build)
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md cli.py ./
COPY rag rag
COPY prompts prompts
COPY examples examples

ENV RAG_CACHE_DIR=/models \
    RAG_CORPUS_DIR=/data/corpus \
    RAG_INDEX_DIR=/data/index
RUN pip install --no-cache-dir ".[llm,mcp,html]" \
    && rag models fetch \
    && python -c "import rag.names.gazetteer as g; g.arabic_names('Raqqa')"

VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import httpx; httpx.get('http://127.0.0.1:8000/healthz').raise_for_status()"
# Index what is mounted (only new or changed files), then serve.
CMD ["sh", "-c", "rag index update && exec rag serve --host 0.0.0.0 --port 8000"]
