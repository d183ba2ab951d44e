# The relscore worker image (used by docker-compose.yml and deploy/k8s).
# Stage 1 builds the wheel; the image installs that wheel alone, so it carries what the wheel
# carries (scorers, streams and their package data) and no source tree and no test support.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY scorers ./scorers
COPY streams ./streams
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
ENV RELSCORE_WEB_PORT=6066 RELSCORE_DATA_DIR=/data
EXPOSE 6066
# Faust creates <data dir>/v1 at start, so the unprivileged user must own the volume mount.
RUN mkdir -p /data && chown 65534:65534 /data
USER 65534
ENTRYPOINT ["relscore"]
CMD ["worker"]
