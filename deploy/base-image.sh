#!/usr/bin/env bash
# Build a local stand-in for the official Python slim image, for machines that reach no image
# registry (this project's CI): Debian bookworm's essential packages + python3 + venv, from Debian's
# package mirror, imported into Docker. It trusts the build machine's CA bundle so that pip inside
# `docker build` can reach PyPI where HTTPS is intercepted. Users build on the official image.
#   deploy/base-image.sh [TAG]        (default TAG: local/python:3.11-slim)
set -euo pipefail
tag=${1:-local/python:3.11-slim}
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag already present"
  exit 0
fi
ca=/etc/ssl/certs/ca-certificates.crt
# merged-usr hook: the layout without the usrmerge package (which would pull in perl).
mmdebstrap --quiet --variant=essential --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --include=python3,python3-venv,python-is-python3 \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook="mkdir -p \"\$1/etc/ssl/certs\" && cp $ca \"\$1/etc/ssl/certs/ca-certificates.crt\"" \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*' \
  bookworm - | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' - "$tag"
docker image ls "$tag"
