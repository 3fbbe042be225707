# The compose test's stand-ins for the two images no registry serves here: Redis (Debian's
# redis-server instead of redis:7.4-bookworm) and an S3-compatible server (s3rver, the one the
# other tests use, instead of MinIO). Built on the same offline base as botbackup's image.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
  && apt-get install -y --no-install-recommends redis-server \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/s3
RUN npm install --no-audit --no-fund --no-save s3rver@3.7.1
COPY s3rver.mjs /opt/s3/s3rver.mjs
