/**
 * The direction of every folder of src/, written down once: a folder may import only the folders
 * listed for it (and itself). Lower layers never import higher ones, and nothing forms a cycle.
 * `npm test` runs this (scripts/check-structure.sh); docs/architecture.md explains the layers.
 */
const below = {
  core: [],
  model: ['core'],
  config: ['core', 'model'],
  state: ['core', 'model', 'config'],
  // Sources and the peer link: they feed the state store.
  keepalived: ['core', 'model', 'config', 'state'],
  netlink: ['core', 'model', 'config', 'state'],
  ipvs: ['core', 'model', 'config', 'state'],
  peer: ['core', 'model', 'config', 'state'],
  // The VRRP observer: adverts from raw sockets, and the interfaces and passwords of keepalived.conf.
  vrrp: ['core', 'model', 'config', 'keepalived'],
  // What decides and acts on the state.
  watchdog: ['core', 'model', 'config', 'state', 'peer'],
  mail: ['core', 'model', 'config', 'state', 'watchdog'],
  // Failover drills: the fencer's track files, the peers' views; reports reach the mailer through a callback.
  drill: ['core', 'model', 'config', 'state', 'peer', 'watchdog'],
  jobs: ['core', 'model', 'config', 'state', 'watchdog', 'mail'],
  // Outputs.
  metrics: ['core', 'model', 'config', 'state', 'keepalived', 'ipvs', 'peer', 'vrrp', 'watchdog', 'mail', 'drill'],
  http: ['core', 'model', 'config', 'state', 'peer', 'watchdog', 'drill', 'jobs', 'metrics'],
  // Tools that read keepalived's configuration and the host, outside the daemon.
  lint: ['core', 'model', 'keepalived'],
  doctor: ['core', 'model', 'config', 'keepalived', 'lint'],
  dashboards: ['core'],
  lab: ['core', 'model', 'config', 'state', 'keepalived', 'mail'],
  // The one wiring place, and the command line above everything.
  daemon: ['core', 'model', 'config', 'state', 'keepalived', 'netlink', 'ipvs', 'peer', 'vrrp', 'watchdog', 'mail', 'drill', 'jobs', 'metrics', 'http'],
  cli: ['core', 'model', 'config', 'state', 'keepalived', 'netlink', 'ipvs', 'peer', 'vrrp', 'watchdog', 'mail', 'drill', 'jobs', 'metrics', 'http', 'lint', 'doctor', 'dashboards', 'lab', 'daemon'],
};

module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'An import cycle: move the shared piece down a layer (src/model or src/core).', from: {}, to: { circular: true } },
    { name: 'no-unknown-folder', severity: 'error', comment: 'A new folder of src/ needs its layer in .dependency-cruiser.cjs.', from: { path: '^src/', pathNot: `^src/(${Object.keys(below).join('|')})/|^src/version\\.ts$` }, to: {} },
  ],
  allowed: [
    ...Object.entries(below).map(([folder, deps]) => ({
      comment: `${folder} may import ${deps.join(', ') || 'no other folder'}`,
      from: { path: `^src/${folder}/` },
      to: { path: `^src/(${[folder, ...deps].join('|')})/|^src/version\\.ts$` },
    })),
    { comment: 'libraries and node built-ins', from: {}, to: { dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'core', 'type-only'], pathNot: '^src/' } },
  ],
  allowedSeverity: 'error',
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
  },
};
