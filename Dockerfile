# Broadsheet: one image for `start`, `serve` and `worker` (docker compose runs one of each).
# tests/integration/dockerfile.test.ts reproduces both stages without Docker: it copies exactly
# what each COPY names, runs the build stage's RUN, and runs the CLI from the runtime stage.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# `npm ci` runs `prepare`, which compiles TypeScript: everything src/ imports must be here,
# including the issue schema in emails/ and the migrations.
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY migrations ./migrations
COPY emails ./emails
RUN npm ci --no-audit --no-fund

# Production dependencies, installed on their own. TypeScript is an optional peer of a
# dependency of mjml (the lock marks it devOptional), so `npm prune --omit=dev` and even
# `npm ci --omit=dev` keep it; --omit=optional drops it, with msgpackr's native speed-up and
# pg's Cloudflare socket, neither of which this image uses. No scripts: `prepare` compiles,
# which is the build stage's job.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production PORT=3000 DATA_DIR=/data
WORKDIR /app
# Production dependencies and the compiled code only: no compiler, no sources, no tests.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
# The MJML templates are read at run time, and the desk's script modules served as files.
COPY emails ./emails
COPY static ./static
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "bin/broadsheet.js"]
CMD ["start"]
