# node-heap-sidecar: the ECS init container that sizes a Node.js heap to its task.
#
#   docker build -t node-heap-sidecar:0.2.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -t <registry>/node-heap-sidecar:0.2.0 --push .
#
# Pure Python, so the same Dockerfile builds for amd64 and arm64 (Graviton). Runs as a non-root
# user with a read-only root filesystem: it writes only the env file, in the shared volume.
ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sidecar ./sidecar
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check '.[fleet]' \
 && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools \
 # botocore carries every AWS service's model (~27 MB); the sidecar calls ECS (and, for audit and
 # adopt reading image configs, ECR's GetAuthorizationToken), plus STS/SSO for role credentials:
 # keep those and drop the rest.
 && find /opt/venv/lib/python3*/site-packages/botocore/data -mindepth 1 -maxdepth 1 -type d \
      ! -name ecs ! -name ecr ! -name sts ! -name sso ! -name sso-oidc -exec rm -rf {} + \
 # Compile now: the read-only image never writes .pyc files at run time.
 && /opt/venv/bin/python -m compileall -q /opt/venv

FROM ${PYTHON_IMAGE}
ARG VERSION=0.2.0
LABEL org.opencontainers.image.title="node-heap-sidecar" \
      org.opencontainers.image.description="ECS init container that sizes a Node.js heap to its task" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/venv /opt/venv
# ECS gives a task volume without a host the image's directory (owner and mode) when the image
# declares it as a VOLUME at the same path: so the non-root user can write the env file there.
RUN mkdir -p /shared && chown 65532:65532 /shared && chmod 0755 /shared
VOLUME ["/shared"]
USER 65532:65532
ENTRYPOINT ["/opt/venv/bin/python", "-m", "sidecar"]
