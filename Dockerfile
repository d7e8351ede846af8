# logferry: multi-stage build on the current Node LTS; production dependencies only; non-root; read-only root FS.
FROM node:26-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:26-slim
# --max-semi-space-size=1: V8's young generation capped at 1 MiB per semi-space (default: grows to 16).
# The agent allocates little per line, so this keeps RSS off the peak at no cost in throughput (`npm run
# bench` starts the agent with this same NODE_OPTIONS; docs/performance.md).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=1 \
    LOGFERRY_STATE_DIR=/var/lib/logferry
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The state directory is a mounted volume in Kubernetes (an emptyDir only the sidecar mounts); the image only
# creates it so a plain `docker run` works. Nothing else is written: the root FS can be read-only.
RUN mkdir -p /var/lib/logferry && chown 1000:1000 /var/lib/logferry
USER 1000:1000
VOLUME ["/var/lib/logferry"]
EXPOSE 9780
# node is PID 1 and installs its own SIGTERM/SIGINT handlers, so signals reach the agent directly.
# The V8 options give user regexes a linear-time fallback after too many backtracks (docs/security.md,
# "User regexes"); node refuses them in NODE_OPTIONS, so they are here. They are REGEX_GUARD_FLAGS in
# src/parse/safe-regex.ts, and test/integration/image-steps.test.ts checks the two are the same.
ENTRYPOINT ["node", "--enable-experimental-regexp-engine", "--enable-experimental-regexp-engine-on-excessive-backtracks", "--regexp-backtracks-before-fallback=50000", "dist/main.js"]
