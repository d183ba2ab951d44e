# The relscore worker image (used by docker-compose.yml and deploy/k8s).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY scorers ./scorers
COPY streams ./streams
RUN pip install --no-cache-dir .
ENV RELSCORE_WEB_PORT=6066 RELSCORE_DATA_DIR=/data
EXPOSE 6066
# Faust creates <data dir>/v1 at start, so the unprivileged user must own the volume mount.
RUN mkdir -p /data && chown 65534:65534 /data
USER 65534
ENTRYPOINT ["relscore"]
CMD ["worker"]
