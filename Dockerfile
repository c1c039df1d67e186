# syntax=docker/dockerfile:1
# Raxx Stream: one image for every role. Run `<image> <role>` (feed, accounts, gateway, workers; sim in dev);
# the migration Job runs `node dist/src/main/migrate.js`. Kubernetes manifests: k8s/, guide: docs/deploy.md.

ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: all dependencies, then tsc (npm run build -> dist/) ----------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
COPY package.json package-lock.json ./
# patches/: fixes to dependencies applied by the postinstall step (patch-package), see patches/README.md.
COPY patches ./patches
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime: production dependencies and the compiled code only --------------------------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
# HOST: the app's default (127.0.0.1) is unreachable from outside the container. PORT: the one k8s/ probes
# (never kubectl's default port).
ENV NODE_ENV=production \
    RAXX_ENV=production \
    HOST=0.0.0.0 \
    PORT=8700 \
    npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
# A fixed uid/gid (10001) that matches runAsUser/runAsGroup/fsGroup in k8s/; no home, no shell.
RUN groupadd --system --gid 10001 raxx \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin raxx
COPY package.json package-lock.json ./
COPY patches ./patches
# Native addons (uWebSockets.js, msgpackr-extract) ship prebuilt binaries for glibc/Node 20: no compiler needed.
RUN npm ci --omit=dev && npm cache clean --force
# drizzle/ holds the SQL migrations that migrate.js applies.
COPY drizzle ./drizzle
COPY --from=build /app/dist ./dist
# Everything above is owned by root and read-only to the app; in Kubernetes the root filesystem is read-only
# too and /tmp is an emptyDir.
USER 10001
EXPOSE 8700
# Node is PID 1: the roles handle SIGTERM/SIGINT themselves (graceful drain), so no init wrapper is needed.
# The node flags of src/main/node-flags.ts (ROLE_NODE_FLAGS; test/unit/main/node-flags.test.ts keeps them equal).
ENTRYPOINT ["node","--no-memory-reducer","dist/src/main/role.js"]
