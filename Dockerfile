# kawatch as a container next to keepalived on a director.
#
#   podman build --format docker -t kawatch .      # (docker format: OCI images carry no HEALTHCHECK)
#   podman run -d --name kawatch --network host --pid host \
#     --cap-drop all --cap-add NET_ADMIN --cap-add KILL \
#     -v /etc/kawatch:/etc/kawatch:ro -v /var/spool/kawatch:/var/spool/kawatch \
#     -v /run/kawatch:/run/kawatch -v /var/lib/kawatch:/var/lib/kawatch -v /tmp:/tmp:ro kawatch
#
# What it needs from the host, and why:
# - host network (--network host): VIPs, VRRP and the secondary link are the host's; netlink must see its addresses.
# - NET_ADMIN: IPVS over generic netlink. Nothing else here needs it.
# - KILL and the host pid namespace (--pid host): keepalived's pid file names a host pid, and the JSON dump is
#   asked for with a signal to that root-owned process. Without them set sources.dump.trigger: none.
# - keepalived's TMPDIR (usually /tmp) read-only, for the JSON dump; set sources.dump.path, since reading
#   keepalived's environment for its TMPDIR would need SYS_PTRACE.
# - the spool, FIFO and track directories shared with the host: keepalived on the host runs the hook
#   `/usr/bin/kawatch notify` (the host's bin/kawatch, or a copy of it: a POSIX shell script that only writes one
#   file into the spool) and reads the track files kawatch writes.
# It runs as uid 10001. Podman hands capabilities added with --cap-add to a non-root user as ambient
# capabilities; Docker does not, so with Docker add `--user 0` (root limited to the capabilities above).
ARG BASE=node:20-bookworm-slim

FROM ${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM ${BASE}
ENV NODE_ENV=production \
    KAWATCH_SPOOL_DIR=/var/spool/kawatch
WORKDIR /opt/kawatch
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY bin ./bin
COPY examples ./examples
RUN ln -s /opt/kawatch/bin/kawatch /usr/local/bin/kawatch \
 && mkdir -p /etc/kawatch /var/spool/kawatch /var/lib/kawatch /run/kawatch/track \
 && chown 10001:10001 /var/spool/kawatch /var/lib/kawatch /run/kawatch /run/kawatch/track
USER 10001:10001
EXPOSE 9650 9651
# /healthz of the metrics listener; KAWATCH_HEALTHZ when `listen` is not the default.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["node", "-e", "fetch(process.env.KAWATCH_HEALTHZ ?? 'http://127.0.0.1:9650/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/local/bin/kawatch"]
CMD ["run", "--config", "/etc/kawatch/kawatch.yml"]
