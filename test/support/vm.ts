import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, chmodSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

/**
 * A real Linux kernel with IPVS for tests: Debian's kernel booted by qemu (TCG: KVM hangs on this
 * machine kind) with a busybox initramfs that mounts the host's root read-only over 9p (so the VM
 * runs the host's node, ipvsadm, keepalived and this checkout's dist/) and a writable exchange
 * directory through which the host hands it shell scripts (see vm-init.sh).
 */

/**
 * The checkout under test, which the VM mounts at the same path (the scripts and dist/ it runs are
 * there): the nearest directory above this module with a package.json, as this module runs from
 * test/support/ in the tests and from dist/test/support/ in the benchmarks.
 */
const CHECKOUT = checkoutRoot(dirname(fileURLToPath(import.meta.url)));
const INIT_SCRIPT = join(CHECKOUT, 'test/support/vm-init.sh');
/** Load order matters: each needs the ones before it. */
const BOOT_MODULES = ['virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci', 'netfs', 'fscache', '9pnet', '9pnet_virtio', '9p'];
const CACHE_ROOT = '/var/tmp/kawatch-vm';

export interface VmKernel {
  version: string;
  vmlinuz: string;
  modules: string;
}

/** The first installed kernel that has IPVS as a module, with its modules directory. */
export function findIpvsKernel(): VmKernel | undefined {
  if (!existsSync('/boot')) return undefined;
  for (const name of readdirSync('/boot').filter((n) => n.startsWith('vmlinuz-')).sort().reverse()) {
    const version = name.slice('vmlinuz-'.length);
    const modules = `/lib/modules/${version}`;
    if (moduleFile(modules, 'net/netfilter/ipvs/ip_vs')) return { version, vmlinuz: join('/boot', name), modules };
  }
  return undefined;
}

/** What a VM suite needs, for describeWithPrereqs. */
export function vmPrereqs(extraCommands: string[] = []): { root: boolean; commands: string[]; files: string[] } {
  const kernel = findIpvsKernel();
  return {
    root: true,
    commands: ['qemu-system-x86_64', 'setpriv', 'cpio', 'gzip', 'modinfo', ...extraCommands],
    files: ['/bin/busybox', kernel?.vmlinuz ?? '/boot/vmlinuz-* with IPVS modules (linux-image-amd64)', 'dist/src/ipvs/genl.js', 'dist/src/ipvs/procfs.js'],
  };
}

function checkoutRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json in ${from} or above it: cannot find the checkout`);
  }
}

function moduleFile(modulesDir: string, relative: string): string | undefined {
  const base = join(modulesDir, 'kernel', relative);
  return ['.ko', '.ko.xz', '.ko.zst', '.ko.gz'].map((ext) => base + ext).find((f) => existsSync(f));
}

function findModule(kernel: VmKernel, name: string): string {
  const out = execFileSync('modinfo', ['-k', kernel.version, '-n', name], { encoding: 'utf8' }).trim();
  if (!out || !existsSync(out)) throw new Error(`kernel module ${name} not found under ${kernel.modules}`);
  return out;
}

/** busybox insmod takes plain .ko files only. */
function writePlainModule(source: string, target: string): void {
  if (source.endsWith('.ko')) copyFileSync(source, target);
  else if (source.endsWith('.xz')) writeFileSync(target, execFileSync('xz', ['-dc', source], { maxBuffer: 64 << 20 }));
  else if (source.endsWith('.zst')) writeFileSync(target, execFileSync('zstd', ['-dcq', source], { maxBuffer: 64 << 20 }));
  else if (source.endsWith('.gz')) writeFileSync(target, execFileSync('gzip', ['-dc', source], { maxBuffer: 64 << 20 }));
  else throw new Error(`unknown module compression: ${source}`);
}

/** The initramfs for this kernel and this init script, built once and cached. */
export function initramfsFor(kernel: VmKernel): string {
  const init = readFileSync(INIT_SCRIPT);
  // Keyed by the init script and by this builder, so a change to either builds a new image.
  const key = createHash('sha256').update(init).update(readFileSync(fileURLToPath(import.meta.url))).digest('hex').slice(0, 16);
  const dir = join(CACHE_ROOT, kernel.version);
  const target = join(dir, `initramfs-${key}.cpio.gz`);
  if (existsSync(target)) return target;
  mkdirSync(dir, { recursive: true });
  const staging = mkdtempSync(join(dir, 'build-'));
  try {
    for (const d of ['bin', 'modules', 'proc', 'sys', 'dev', 'newroot']) mkdirSync(join(staging, d));
    copyFileSync('/bin/busybox', join(staging, 'bin/busybox'));
    chmodSync(join(staging, 'bin/busybox'), 0o755);
    symlinkSync('busybox', join(staging, 'bin/sh'));
    writeFileSync(join(staging, 'init'), init, { mode: 0o755 });
    for (const m of BOOT_MODULES) writePlainModule(findModule(kernel, m), join(staging, 'modules', `${m}.ko`));
    const partial = `${target}.${process.pid}.tmp`;
    execFileSync('sh', ['-c', 'cd "$1" && find . | cpio -o -H newc --quiet | gzip -1 > "$2"', 'sh', staging, partial]);
    renameSync(partial, target);
    // Images of earlier init scripts or builders are never used again.
    for (const old of readdirSync(dir).filter((n) => /^initramfs-[0-9a-f]+\.cpio\.gz$/.test(n) && join(dir, n) !== target)) rmSync(join(dir, old), { force: true });
    return target;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

export interface VmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface VmOptions {
  memoryMb?: number;
  bootTimeoutMs?: number;
}

export class TestVm {
  private commands = 0;
  private exitCode: number | null | undefined;
  private broken?: string;
  /** Seconds from starting qemu to the VM serving commands. */
  bootSeconds = 0;

  private constructor(
    private readonly qemu: ChildProcess,
    /** The exchange directory as the host sees it. */
    readonly exchange: string,
    private readonly consoleLog: string,
    private readonly killOnExit: () => void,
  ) {
    qemu.on('exit', (code) => (this.exitCode = code));
  }

  static async boot(options: VmOptions = {}): Promise<TestVm> {
    const kernel = findIpvsKernel();
    if (!kernel) throw new Error('no kernel with IPVS modules under /boot (install linux-image-amd64)');
    const initramfs = initramfsFor(kernel);
    const exchange = mkdtempSync(join(tmpdir(), 'kawatch-vm-'));
    const consoleLog = join(exchange, 'console.log');
    writeFileSync(join(exchange, 'checkout-path'), CHECKOUT);
    const started = Date.now();
    // setpriv: qemu gets SIGKILL if this process dies without running its exit handlers.
    const qemu = spawn(
      'setpriv',
      [
        '--pdeathsig', 'KILL', '--', 'qemu-system-x86_64',
        '-accel', 'tcg', '-cpu', 'max', '-smp', '1', '-m', String(options.memoryMb ?? 1536),
        '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
        '-kernel', kernel.vmlinuz, '-initrd', initramfs,
        '-append', 'console=ttyS0 panic=-1 quiet',
        '-serial', `file:${consoleLog}`,
        '-virtfs', 'local,path=/,mount_tag=root9,security_model=none,readonly=on,multidevs=remap',
        '-virtfs', `local,path=${exchange},mount_tag=exchange,security_model=none`,
        '-virtfs', `local,path=${CHECKOUT},mount_tag=checkout,security_model=none,readonly=on`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let qemuErrors = '';
    qemu.stderr!.on('data', (chunk: Buffer) => (qemuErrors += chunk.toString()));
    // Whatever happens to the test process, qemu must not outlive it.
    const killOnExit = (): void => void qemu.kill('SIGKILL');
    process.once('exit', killOnExit);
    const vm = new TestVm(qemu, exchange, consoleLog, killOnExit);
    try {
      await waitFor(() => vm.exitCode !== undefined || existsSync(join(exchange, 'ready')), 'the VM to boot', options.bootTimeoutMs ?? 180_000);
      if (vm.exitCode !== undefined) throw new Error(`qemu exited (${vm.exitCode}) during boot: ${qemuErrors.trim()}\n${vm.consoleTail()}`);
    } catch (err) {
      await vm.shutdown();
      throw err;
    }
    vm.bootSeconds = (Date.now() - started) / 1000;
    const setup = readFileSync(join(exchange, 'setup.log'), 'utf8').trim();
    if (setup) {
      await vm.shutdown();
      throw new Error(`VM setup failed: ${setup}`);
    }
    return vm;
  }

  /** Runs a shell script as root inside the VM (chrooted in the host's root, read-only but for /tmp, /run, /var). */
  async run(script: string, timeoutMs = 120_000): Promise<VmResult> {
    if (this.broken) throw new Error(`the VM is unusable: ${this.broken}`);
    const n = this.commands++;
    const file = (ext: string): string => join(this.exchange, `cmd-${n}.${ext}`);
    writeFileSync(file('sh.tmp'), script);
    renameSync(file('sh.tmp'), file('sh'));
    try {
      await waitFor(() => this.exitCode !== undefined || existsSync(file('rc')), `VM command ${n} to finish`, timeoutMs);
    } catch (err) {
      this.broken = `command ${n} did not finish: ${script.slice(0, 200)}`;
      throw err;
    }
    if (this.exitCode !== undefined) {
      this.broken = `qemu exited (${this.exitCode})`;
      throw new Error(`${this.broken} while running command ${n}\n${this.consoleTail()}`);
    }
    return {
      code: Number(readFileSync(file('rc'), 'utf8').trim()),
      stdout: readFileSync(file('out'), 'utf8'),
      stderr: readFileSync(file('err'), 'utf8'),
    };
  }

  /** Like run, but a non-zero exit is an error carrying the script's stderr. */
  async ok(script: string, timeoutMs?: number): Promise<string> {
    const result = await this.run(script, timeoutMs);
    if (result.code !== 0) throw new Error(`VM command failed (exit ${result.code}): ${script.trim().slice(0, 300)}\n${result.stderr.trim()}`);
    return result.stdout;
  }

  /** Asks the VM to power off, then makes sure qemu is gone and the exchange directory removed. */
  async shutdown(): Promise<void> {
    if (this.exitCode === undefined) {
      writeFileSync(join(this.exchange, 'poweroff'), '');
      await waitFor(() => this.exitCode !== undefined, 'qemu to exit', 15_000).catch(() => {
        this.qemu.kill('SIGKILL');
        return waitFor(() => this.exitCode !== undefined, 'qemu to die', 10_000);
      });
    }
    process.off('exit', this.killOnExit);
    rmSync(this.exchange, { recursive: true, force: true });
  }

  private consoleTail(): string {
    try {
      return `console:\n${readFileSync(this.consoleLog, 'utf8').split('\n').slice(-30).join('\n')}`;
    } catch {
      return '(no console output)';
    }
  }
}
