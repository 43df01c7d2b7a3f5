# syntax=docker/dockerfile:1
# check=error=true
#
# kube-join: one image for the agent (sidecar, `kube-join agent`) and the auth service (`kube-join auth`).
# Build:  docker build -t kube-join:0.1.0 .
# Lint:   scripts/lint-dockerfile   (BuildKit's `docker build --check` rules, no engine needed)
#
# The Node version is the one package-lock.json pins as the devDependency "node", i.e. the Node the
# tests run on; test/integration/charts.test.ts fails when the two drift apart.
FROM node:24.21.0-bookworm-slim AS node

# 1. Build: all dependencies; tsc type-checks, esbuild bundles the CLI and its dependencies into dist/cli/.
FROM node AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts/build.js ./scripts/
COPY src ./src
RUN npm run build && chmod 0755 dist/cli/main.js

# 2. Runtime: the bundle alone (it holds the production dependencies, so no node_modules), no
#    npm/yarn/corepack left behind, non-root, and nothing written outside mounted volumes (the charts run
#    it with readOnlyRootFilesystem and an emptyDir /tmp, where V8's compile cache goes). The entry point
#    sets its own V8 flags and turns source maps on (src/cli/main.ts), so no NODE_OPTIONS here.
FROM node AS runtime
LABEL org.opencontainers.image.title="kube-join" \
      org.opencontainers.image.description="Short-lived X.509 credentials for Kubernetes workloads, proven by the pod's ServiceAccount token" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production \
    HOME=/tmp
WORKDIR /app
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* /root/.npm /tmp/* \
 && ln -s /app/dist/cli/main.js /usr/local/bin/kube-join
COPY --from=build /src/dist ./dist
COPY examples ./examples
USER 65532:65532
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
