# The runner itself as a container (deploy/docker-compose.yml). Agent containers are
# started by the host's Docker engine through the mounted socket.
FROM node:22-slim AS build
WORKDIR /src
COPY . .
RUN npm install --no-audit --no-fund && node scripts/build-runner.ts

FROM node:22-slim
WORKDIR /opt/loop
COPY package.json package-lock.json ./
# Runtime needs only dockerode from node_modules (the bundle's lazy Docker transports).
RUN npm install --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /src/dist ./dist
COPY runner/dockerode-lazy ./runner/dockerode-lazy
COPY runner/image ./runner/image
COPY runner/config.example.jsonc ./runner/config.example.jsonc
ENTRYPOINT ["node", "/opt/loop/dist/loop.mjs"]
CMD ["runner"]
