# botbackup: one image for every role (scheduler, worker, the CLI). docs/deploy.md.
#   docker build -t botbackup .
# Node 22 LTS (better-sqlite3 12.x and zstd-napi ship prebuilt binaries for it); the build
# tools are only in the build stage, for a platform without prebuilt binaries.

FROM node:22-bookworm-slim AS build
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json turbo.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
# npm ci runs the workspace build (the root "prepare" script); then drop the dev dependencies.
RUN npm ci && npm run build && npm prune --omit=dev \
  && rm -rf packages/*/src packages/*/test packages/*/tsconfig.json .turbo

FROM node:22-bookworm-slim
# tini reaps children and passes SIGTERM to node, so a worker drains on `docker compose stop`.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app /app
# The catalog and other state go to /state (a volume); the config is mounted at /config.
RUN mkdir -p /state /backups && chown node:node /state /backups
ENV NODE_ENV=production \
    BOTBACKUP_CONFIG=/config/botbackup.yaml \
    XDG_STATE_HOME=/state
# Not root: the image reads the bot's files through a read-only mount and writes only /state
# and the local repository.
USER node
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/packages/cli/bin/botbackup.js"]
CMD ["--help"]
