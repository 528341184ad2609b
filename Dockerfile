# node-heap-sidecar: the ECS init container that sizes a Node.js heap to its task.
# First version; the deployment issue hardens it (size budget, rehearsal under Docker).
#   docker buildx build --platform linux/amd64,linux/arm64 -t node-heap-sidecar:0.1.0 .
ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sidecar ./sidecar
# Compiled here, so the read-only final image never writes .pyc files.
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir . \
 && /opt/venv/bin/python -m compileall -q /opt/venv

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="node-heap-sidecar" \
      org.opencontainers.image.description="ECS init container that sizes a Node.js heap to its task" \
      org.opencontainers.image.version="0.1.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/venv /opt/venv
# A fresh ECS bind volume takes the image's directory (owner, mode) when declared as a VOLUME at
# the same path: that lets the non-root user write the env file there.
RUN mkdir -p /shared && chown 65532:65532 /shared
VOLUME ["/shared"]
USER 65532:65532
ENTRYPOINT ["python", "-m", "sidecar"]
