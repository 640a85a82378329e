# syntax=docker/dockerfile:1
# One image per service, all from this file: `docker build --target <service> .`
# with <service> one of gateway, scheduler, projector, worker, demo-app.
# Stages: build (npm ci, `nx run-many -t build` → dist/services/<name>/main.js)
# → runtime (production dependencies only, non-root) → one target per service
# holding its bundle. Bundles compile our packages in and load npm packages
# from node_modules, which `npm ci --omit=dev` installs from the lockfile.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

FROM ${NODE_IMAGE} AS base
WORKDIR /app

FROM base AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV NX_DAEMON=false NX_NO_CLOUD=true
COPY . .
# Installs, builds the services, then gathers the workspace manifests the
# runtime stage's `npm ci` needs, at their paths.
RUN npm ci --no-audit --no-fund \
 && npx nx run-many -t build --projects=gateway,scheduler,projector,worker,demo-app \
 && mkdir /manifests \
 && cp package.json package-lock.json /manifests/ \
 && find schemas libs services test -name node_modules -prune -o -name package.json \
      -exec cp --parents {} /manifests/ +

FROM base AS runtime
ENV NODE_ENV=production
COPY --from=build /manifests/ ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
# The image's unprivileged user `node`, by id so Kubernetes' runAsNonRoot can
# check it; the files stay root's, read-only to it.
USER 1000:1000
# Containers are reached from outside: listen on every interface.
ENV CHUTE_GATEWAY_HOST=0.0.0.0 CHUTE_DEMO_HOST=0.0.0.0 CHUTE_PROBE_HOST=0.0.0.0 CHUTE_LOG_FORMAT=json
STOPSIGNAL SIGTERM

FROM runtime AS gateway
COPY --from=build /app/dist/services/gateway/ dist/services/gateway/
EXPOSE 8080
# Node 24's young generation grows to 64 MiB per semi-space here, and a gateway
# holding 10,000 WebSockets kept it full: 16 MiB (Node 20's size) took its RSS
# from 442-456 to 354-360 MiB. Only the gateway: the other services hold little
# and would pay for it in more frequent scavenges. (libs/testing's
# SERVICE_NODE_ARGS runs tests and benchmarks the same way.)
ENV NODE_OPTIONS=--max-semi-space-size=16
CMD ["node", "dist/services/gateway/main.js"]

FROM runtime AS scheduler
COPY --from=build /app/dist/services/scheduler/ dist/services/scheduler/
ENV CHUTE_PROBE_PORT=8091
EXPOSE 8091
CMD ["node", "dist/services/scheduler/main.js"]

FROM runtime AS projector
COPY --from=build /app/dist/services/projector/ dist/services/projector/
ENV CHUTE_PROBE_PORT=8092
EXPOSE 8092
# `node dist/services/projector/main.js migrate` migrates the read model and exits.
CMD ["node", "dist/services/projector/main.js"]

FROM runtime AS worker
COPY --from=build /app/dist/services/worker/ dist/services/worker/
ENV CHUTE_PROBE_PORT=8093
EXPOSE 8093
CMD ["node", "dist/services/worker/main.js"]

FROM runtime AS demo-app
COPY --from=build /app/dist/services/demo-app/ dist/services/demo-app/
EXPOSE 8000
CMD ["node", "dist/services/demo-app/main.js"]
