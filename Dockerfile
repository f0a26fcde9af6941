# meshtool: the signer controller, its CLI and the demo workloads in one image.
#   docker build -t meshtool:latest . && kind load docker-image meshtool:latest
# Without Docker: `make node-images` (hack/node-images.sh) builds this same file with buildah on a
# locally made debian:bookworm-slim (mmdebstrap, with python3) and imports it into the local
# cluster's containerd. That build has no network: the host downloads the locked wheels and
# mounts them at /wheels, with an /etc/pip.conf that says no-index and find-links = /wheels.
#
# Layers, from the least to the most often changed: Python; the venv /opt/meshtool with the
# locked dependencies (requirements.lock, `make lock`: this layer changes only with the lock);
# meshtool itself in /opt/meshtool-app (a .pth file in the venv puts it on sys.path). Every
# package is pinned by version and hash (pip --require-hashes). The final stage holds Debian's
# python3 and those two folders only: no pip, setuptools or wheel, no build tools.
# BASE may name a digest (--build-arg BASE=debian:bookworm-slim@sha256:...) to pin the base too.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS python
# Debian's own Python 3.11, nothing else. A base that already has it (the local one) skips apt.
RUN command -v python3 >/dev/null || \
    (apt-get update && apt-get install -y --no-install-recommends python3 ca-certificates \
     && rm -rf /var/lib/apt/lists/*)

FROM python AS build
# pip for this stage only: the locked pip wheel where /wheels is mounted (the build without
# network), else Debian's python3-venv; then the locked pip and build backend over it.
COPY requirements-build.lock /tmp/
RUN if [ -d /wheels ]; then \
      python3 -m venv --without-pip /opt/build && pip_wheel="$(echo /wheels/pip-*.whl)" \
      && /opt/build/bin/python "$pip_wheel/pip" install --quiet --no-deps "$pip_wheel"; \
    else \
      apt-get update && apt-get install -y --no-install-recommends python3-venv \
      && python3 -m venv /opt/build; \
    fi \
    && /opt/build/bin/pip install --quiet --no-cache-dir --disable-pip-version-check \
       --require-hashes --no-deps -r /tmp/requirements-build.lock
# The runtime venv gets no pip of its own: the build venv's pip installs into it (--python).
COPY requirements.lock /tmp/
RUN python3 -m venv --without-pip /opt/meshtool \
    && /opt/build/bin/pip --python /opt/meshtool/bin/python install --quiet --no-cache-dir \
       --disable-pip-version-check --require-hashes --no-deps -r /tmp/requirements.lock \
    && echo /opt/meshtool-app > "$(/opt/meshtool/bin/python -c \
       'import sysconfig; print(sysconfig.get_path("purelib"))')/meshtool-app.pth"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY meshtool ./meshtool
RUN /opt/build/bin/pip wheel --quiet --no-cache-dir --disable-pip-version-check --no-deps \
       --no-build-isolation --wheel-dir /tmp/dist . \
    && /opt/build/bin/pip --python /opt/meshtool/bin/python install --quiet --no-cache-dir \
       --disable-pip-version-check --no-deps --target /opt/meshtool-app /tmp/dist/meshtool-*.whl

FROM python
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=meshtool
LABEL org.opencontainers.image.title="meshtool" \
      org.opencontainers.image.description="Kubernetes Pod Certificate signers (service DNS, SPIFFE, pod identity), their CLI and demo workloads" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="debian:bookworm-slim"
COPY --from=build /opt/meshtool /opt/meshtool
COPY --from=build /opt/meshtool-app /opt/meshtool-app
# The manifests run us as 65532 with a read-only root file system; nothing is written at runtime.
USER 65532:65532
ENV PATH=/opt/meshtool-app/bin:/opt/meshtool/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ENTRYPOINT ["meshtool"]
