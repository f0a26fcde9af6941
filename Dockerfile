# meshtool: the signer controller, its CLI and the demo workloads in one image.
#   docker build -t meshtool:latest . && kind load docker-image meshtool:latest
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY meshtool ./meshtool
RUN pip install --no-cache-dir --root-user-action=ignore --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
# The manifests run us as 65532 with a read-only root file system; nothing is written at runtime.
USER 65532:65532
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ENTRYPOINT ["meshtool"]
