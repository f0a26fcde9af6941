# meshtool: the signer controller, its CLI and the demo workloads in one image.
#   docker build -t meshtool:latest . && kind load docker-image meshtool:latest
# Without Docker: `make node-images` (hack/node-images.sh) builds this same file with buildah on a
# locally made debian:bookworm-slim (mmdebstrap) and imports it into the local cluster's containerd.
FROM debian:bookworm-slim AS python
# Debian's own Python 3.11. A base that already has it (the local mmdebstrap one) skips apt.
RUN command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null || \
    (apt-get update && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
     && rm -rf /var/lib/apt/lists/*)

FROM python AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY meshtool ./meshtool
RUN python3 -m venv /opt/meshtool \
    && /opt/meshtool/bin/pip install --no-cache-dir --disable-pip-version-check .

FROM python
COPY --from=build /opt/meshtool /opt/meshtool
# The manifests run us as 65532 with a read-only root file system; nothing is written at runtime.
USER 65532:65532
ENV PATH=/opt/meshtool/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ENTRYPOINT ["meshtool"]
