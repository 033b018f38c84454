# kawatch as a container next to keepalived on a director, from the same self-contained bundle as the
# .deb and the .rpm (its own Node.js runtime under /usr/lib/kawatch) on a minimal Debian: no Node.js
# base image, no npm in the image.
#
#   npm run package                                # writes dist-pkg/kawatch-VERSION-linux-x64.tar.gz
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
#   `/usr/bin/kawatch notify` (the package's, or a copy of the image's /usr/bin/kawatch: a POSIX shell script
#   that only writes one file into the spool) and reads the track files kawatch writes.
# It runs as uid 10001. Podman hands capabilities added with --cap-add to a non-root user as ambient
# capabilities; Docker does not, so with Docker add `--user 0` (root limited to the capabilities above).
# The runtime needs glibc 2.28 and libstdc++ (GLIBCXX_3.4.21): any Debian from 10 on as BASE.
ARG BASE=debian:bookworm-slim

FROM ${BASE}
# ADD unpacks the tarball over / (it has no entry for / or /lib, so a merged /usr stays as it is).
ADD dist-pkg/kawatch-*-linux-x64.tar.gz /
ENV NODE_ENV=production \
    KAWATCH_SPOOL_DIR=/var/spool/kawatch
RUN mkdir -p /run/kawatch/track \
 && chown 10001:10001 /var/spool/kawatch /var/lib/kawatch /run/kawatch /run/kawatch/track
USER 10001:10001
EXPOSE 9650 9651
# /healthz of the metrics listener, asked with the bundled runtime; KAWATCH_HEALTHZ when `listen` is not the default.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["/usr/lib/kawatch/node", "-e", "fetch(process.env.KAWATCH_HEALTHZ ?? 'http://127.0.0.1:9650/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/kawatch"]
CMD ["run", "--config", "/etc/kawatch/kawatch.yml"]
