# One image for every Thermocline service: `docker run thermocline ingest|process|simulate ...`.
# Node.js 22: the recommended runtime (README, "Requirements").
FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY cli ./cli
COPY common ./common
COPY stack ./stack
COPY ingest ./ingest
COPY processor ./processor
COPY simulator ./simulator
COPY demo ./demo
# Inside a container the metrics endpoint must be reachable from Prometheus, not only loopback.
ENV METRICS_HOST=0.0.0.0
USER node
ENTRYPOINT ["node", "bin/thermocline.js"]
CMD ["--help"]
