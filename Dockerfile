# botbackup: one image for every role (scheduler, worker, dashboard, the CLI). docs/deploy.md.
#   docker build -t botbackup .
# Node 22 LTS by default (better-sqlite3 12.x and zstd-napi ship prebuilt binaries for it); the
# build tools are only in the build stage, for a platform without prebuilt binaries.
#
# BASE_IMAGE: any Debian-based image with node and npm on PATH, a `node` user (uid 1000) and apt.
# The default is the official Node image; without a registry, build one from Debian's packages
# (test/compose/base-image.sh does, for the compose test) and pass it:
#   docker build --build-arg BASE_IMAGE=botbackup-base:<tag> -t botbackup .
ARG BASE_IMAGE=node:22-bookworm-slim

FROM ${BASE_IMAGE} AS build
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json turbo.json tsconfig.json tsconfig.base.json .npmrc ./
COPY packages ./packages
# npm ci runs the workspace build (the root "prepare" script); then drop the dev dependencies.
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev \
  && rm -rf packages/*/src packages/*/test packages/*/tsconfig.json .turbo

FROM ${BASE_IMAGE}
# tini reaps children and passes SIGTERM to node, so a worker drains on `docker compose stop`.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app /app
# Volumes (docs/deploy.md, "Volumes"): /state holds the catalog (XDG_STATE_HOME) and the staging
# copies of databases being backed up (XDG_CACHE_HOME), /backups the local repository; the config
# is mounted at /config. Nothing else is written, so the root filesystem can be read-only.
RUN mkdir -p /state /backups && chown node:node /state /backups
ENV NODE_ENV=production \
    BOTBACKUP_CONFIG=/config/botbackup.yaml \
    XDG_STATE_HOME=/state \
    XDG_CACHE_HOME=/state/cache
# Not root: the image reads the bot's files through a read-only mount and writes only /state
# and the local repository.
USER node
# A worker's check (Redis answers, every storage target is reachable); docker-compose.yml sets
# the scheduler's and the dashboard's own.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
  CMD ["node", "/app/packages/cli/bin/botbackup.js", "health", "--role", "worker"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/packages/cli/bin/botbackup.js"]
CMD ["--help"]
