# syntax=docker/dockerfile:1
# The Meterway gateway as an image: deploy/README.md says how to build and run it.
#   docker build -t meterway .
#   docker run -d --name meterway -p 9470:9470 -v meterway-data:/var/lib/meterway meterway

# Build: all dependencies, then TypeScript to dist/. Scripts are skipped at install: the package's
# own `prepare` would build before the sources are here, and no native addon is needed to compile.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# Production dependencies only, with better-sqlite3's native addon (a prebuilt binary when one is
# published for this platform, else compiled: hence the compiler).
FROM node:20-slim AS deps
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 \
 && npm cache clean --force

# Runtime: dist/ and the production node_modules, run as the image's unprivileged `node` user.
FROM node:20-slim
ENV NODE_ENV=production \
    METERWAY_HOST=0.0.0.0 \
    METERWAY_PORT=9470 \
    METERWAY_DATA_DIR=/var/lib/meterway
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json README.md LICENSE ./
RUN chmod 0755 dist/cli/main.js && ln -s /app/dist/cli/main.js /usr/local/bin/meterway \
 && mkdir -p /var/lib/meterway && chown node:node /var/lib/meterway && chmod 0700 /var/lib/meterway
USER node
# The control plane, the time-series store, the master key and the admin token (admin-token).
VOLUME ["/var/lib/meterway"]
EXPOSE 9470
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.METERWAY_PORT || 9470) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The gateway stops cleanly on SIGTERM (docker stop); `docker exec meterway meterway ...` runs the CLI.
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["serve"]
