# The relscore worker image (used by docker-compose.yml and deploy/k8s).
# Stage 1 builds the wheel; the image installs that wheel alone, so it carries what the wheel
# carries (scorers, streams and their package data) and no source tree and no test support.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY scorers ./scorers
COPY streams ./streams
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# Stage 2 compiles scorers/ with mypyc, as `make compiled` does (same outputs as the pure
# package, which tests/unit/scorers/test_compiled_build.py checks; about twice as fast).
FROM python:3.11-slim AS compiled
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir "mypy>=1.10,<3" "orjson>=3.10,<4"
WORKDIR /compiled
COPY scorers ./scorers
RUN mypyc scorers && rm -rf build

FROM python:3.11-slim
COPY --from=wheel /wheels /wheels
# With the rocksdb extra, so that RELSCORE_TABLE_STORE=rocksdb:// works in the image too.
RUN pip install --no-cache-dir "$(ls /wheels/*.whl)[rocksdb]" && rm -rf /wheels
# The worker imports the compiled scorers first and names the build it runs in its start-up
# line and in relscore_build_info; unset PYTHONPATH to run the pure package.
COPY --from=compiled /compiled /opt/relscore-compiled
ENV RELSCORE_WEB_PORT=6066 RELSCORE_DATA_DIR=/data PYTHONPATH=/opt/relscore-compiled
EXPOSE 6066
# Faust creates <data dir>/v1 at start, so the unprivileged user must own the volume mount.
RUN mkdir -p /data && chown 65534:65534 /data
USER 65534
ENTRYPOINT ["relscore"]
CMD ["worker"]
