# syntax=docker/dockerfile:1
#
# fleetcmd container image.
#
#   docker build -t fleetcmd .                      # server (default, last stage; runs as `node`)
#   docker build -t fleetcmd-agent --target agent . # agent (runs as root, see the agent stage)
#
# Runtime configuration is environment-only: REDIS_URL, PORT, FLEETCMD_API_TOKEN (server),
# FLEETCMD_NODE_ID (agent), FLEETCMD_HEARTBEAT_SECONDS, FLEETCMD_DELIVERY_TIMEOUT_SECONDS,
# FLEETCMD_PREFIX, LOG_LEVEL.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------
# build: install all deps, compile TypeScript to dist/, then drop devDependencies.
# ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app

# Dependencies first so this layer is cached until the lockfile changes.
# --ignore-scripts skips `prepare` (nothing to compile yet) and optional native addons
# such as msgpackr-extract (msgpackr falls back to its pure-JS implementation).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

# tsconfig.build.json compiles src/ and workers/ into dist/src and dist/workers; the bundle
# script writes the agent's one-file bundle, dist/agent/ (what `fleetcmd agent` runs).
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/bundle-agent.mjs ./scripts/
COPY src ./src
COPY workers ./workers
COPY ui ./ui
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# ---------------------------------------------------------------------------
# runtime: production node_modules + compiled output only. Shared by agent and server.
# ---------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

# tini as PID 1: forwards SIGTERM/SIGINT to node and reaps orphaned children, which matters
# for the agent (commands it runs may leave background processes behind).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production
WORKDIR /app

# Files stay owned by root: the non-root server can read but not modify its own code.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin

ENTRYPOINT ["/usr/bin/tini", "--"]

# ---------------------------------------------------------------------------
# agent: `docker build --target agent .`
# The agent runs shell commands as the user each job requests, which requires switching
# uid/gid; that is only possible as root, so this stage deliberately runs as root.
# Requested users must exist inside the agent's container.
# Node id comes from FLEETCMD_NODE_ID (or append `--node-id ID` to the command).
# ---------------------------------------------------------------------------
FROM runtime AS agent
USER root
CMD ["node", "bin/fleetcmd.js", "agent"]

# ---------------------------------------------------------------------------
# server (default target, must stay the last stage): HTTP API + scheduler, non-root.
# Override the role with e.g. `... server --role api`.
# ---------------------------------------------------------------------------
FROM runtime AS server
ENV PORT=8080
EXPOSE 8080
USER node
# Slim images have no curl/wget; use node's built-in fetch.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1)).catch(() => process.exit(1))"]
CMD ["node", "bin/fleetcmd.js", "server"]
