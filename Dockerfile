# Image for `aga-otel demo` (the demo service of collector/docker-compose.yml).
# Build context: the repository root.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY aga_otel ./aga_otel
COPY aga_observability ./aga_observability
# postgresql: the compose stack's audit trail; grpc: its OTLP push (--otlp-protocol grpc).
RUN pip install --no-compile ".[postgresql,grpc]" && rm -rf /src

# Run unprivileged; the demo needs no file system access beyond its working directory.
RUN useradd --create-home --uid 10001 aga
USER aga
WORKDIR /home/aga

# aga-otel's defaults (ObservabilityConfig): Prometheus endpoint and health server. They
# listen on loopback unless told otherwise; a container's ports must listen on all interfaces.
EXPOSE 9464 8080
ENTRYPOINT ["aga-otel"]
CMD ["demo", "--host", "0.0.0.0"]
