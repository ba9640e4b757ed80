# convlens as a container: the web app and the API on port 8000, models included.
#
#   docker build -t convlens .
#   docker run --rm -p 8000:8000 convlens                  # then open http://127.0.0.1:8000
#
# The GPU variant: a CUDA runtime base and onnxruntime-gpu instead of onnxruntime, from
# requirements/runtime-gpu.lock (onnxruntime-gpu's wheels on PyPI are built for CUDA 13
# and cuDNN 9):
#
#   docker build -t convlens:gpu --build-arg ONNXRUNTIME=onnxruntime-gpu \
#       --build-arg BASE_IMAGE=nvidia/cuda:13.0.0-cudnn-runtime-ubuntu24.04 .
#   docker run --rm --gpus all -p 8000:8000 convlens:gpu    # /health: CUDAExecutionProvider
#
# Settings are CONVLENS_* environment variables (README, "Settings"): docker run -e ...
# Only instructions the classic builder knows are used, so it builds with or without BuildKit.

ARG BASE_IMAGE=python:3.12-slim

# The Python both stages stand on. The python:*-slim images have one; the CUDA images have
# none, so there it comes from the distribution (Ubuntu 24.04: Python 3.12).
FROM ${BASE_IMAGE} AS base
RUN if ! command -v python >/dev/null 2>&1; then \
        apt-get update \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            python3 python3-venv \
        && rm -rf /var/lib/apt/lists/* \
        && ln -s /usr/bin/python3 /usr/local/bin/python; \
    fi

# The builder: a virtual environment with the dependencies, and nothing of the app.
FROM base AS builder
ARG ONNXRUNTIME=onnxruntime
# The dependencies come from a lock (requirements/refresh writes it from pyproject.toml):
# every package pinned, its files' hashes checked, so two builds of one commit install the
# same files. Only the locks go in before the install, so this layer (the slow one, some
# 580 MB installed) is reused by every build until a lock changes. The server never
# installs anything: pip and setuptools stay behind.
COPY requirements/runtime.lock requirements/runtime-gpu.lock /tmp/build/
RUN case "$ONNXRUNTIME" in \
        onnxruntime) lock=/tmp/build/runtime.lock ;; \
        onnxruntime-gpu) lock=/tmp/build/runtime-gpu.lock ;; \
        *) echo "ONNXRUNTIME is onnxruntime or onnxruntime-gpu, not $ONNXRUNTIME" >&2; exit 1 ;; \
    esac \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
        --require-hashes --no-deps -r "$lock" \
    && /opt/venv/bin/pip uninstall -y --disable-pip-version-check pip setuptools

# The image: the environment, the app and its files, run by a user that owns none of them.
# The settings come first, the files last: an edit of the app rebuilds only the last layers.
FROM base AS runtime
RUN useradd --uid 10001 --user-group --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin convlens
# The repository's layout, /app/webapp beside /app/models, /app/static and /app/templates,
# where the settings look by default; the CONVLENS_* paths below say so explicitly.
# onnxruntime (1.29 and later) sends usage telemetry from Linux unless told not to: a
# classroom server has no business calling out (ORT_DISABLE_TELEMETRY is the name
# onnxruntime 1.32 reads, ORT_TELEMETRY_DISABLED the one its later releases read).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CONVLENS_MODEL_DIR=/app/models \
    CONVLENS_STATIC_DIR=/app/static \
    CONVLENS_TEMPLATES_DIR=/app/templates \
    ORT_DISABLE_TELEMETRY=1 \
    ORT_TELEMETRY_DISABLED=1 \
    NUMBA_CACHE_DIR=/tmp/convlens-numba
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# python, not curl (the image has none): healthy while /health answers {"status": "ok"}.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import json, urllib.request; answer = json.load(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)); raise SystemExit(answer['status'] != 'ok')"]
# Exec form: uvicorn is PID 1 and gets docker stop's SIGTERM itself; it lets the requests
# in flight finish (5 s at most, inside docker's 10 s before SIGKILL) and exits with 0.
# convlens writes its own access log (JSON, with request ids): uvicorn's is turned off.
CMD ["uvicorn", "webapp.main:app", "--host", "0.0.0.0", "--port", "8000", \
     "--timeout-graceful-shutdown", "5", "--no-access-log"]
# The files, owned by root and read-only to the server, least often changed first.
COPY --from=builder /opt/venv /opt/venv
COPY models/*.onnx models/*.json models/samples.npz /app/models/
COPY static/ /app/static/
COPY templates/ /app/templates/
COPY webapp/ /app/webapp/
# The numba loops (webapp.main.compile_loops lists them: the convolution loop, the
# drawing preprocessing, the reconstruction's digit arithmetic) are compiled now, as the
# server's user, into a cache the image keeps, so the first request does not wait.
RUN python -c "from webapp.main import compile_loops; compile_loops()"
