// Helpers for the kernel suite, which runs as root inside a qemu guest booting a real Debian kernel
// (see vm/). Everything here reads what the kernel itself reports: /proc/modules, /sys/module, /dev/kmsg.
import { closeSync, constants, existsSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { bind, type Kernmod } from '../../lib/kernmod.js';
import { realBackends, type BackendCase } from '../shared/backends.js';

export interface TestModules {
  release: string;
  modules: Record<
    | 'hello'
    | 'params'
    | 'fail'
    | 'exporter'
    | 'importer'
    | 'slow'
    | 'forged'
    | 'helloGz'
    | 'helloZst'
    | 'helloXz'
    | 'helloPlainXz'
    | 'helloSigned',
    string
  >;
}

export function testModules(): TestModules {
  const dir = process.env.KERNMOD_TEST_MODULES;
  if (!dir) throw new Error('KERNMOD_TEST_MODULES is not set: run the kernel suite with `npm run test:kernel` (it boots a VM)');
  return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as TestModules;
}

export function requireKernel(): void {
  if (!existsSync('/proc/modules')) throw new Error('this suite needs a kernel with module support: run it with `npm run test:kernel`');
  if (process.getuid?.() !== 0) throw new Error('this suite must run as root (it does, inside the VM)');
}

export interface ProcModule {
  name: string;
  size: number;
  refcnt: string;
  deps: string;
  state: string;
  address: string;
  taints: string;
}

export function procModules(): ProcModule[] {
  return readFileSync('/proc/modules', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [name, size, refcnt, deps, state, address, taints] = line.split(' ');
      return { name: name!, size: Number(size), refcnt: refcnt!, deps: deps!, state: state!, address: address!, taints: taints ?? '' };
    });
}

export function procModule(name: string): ProcModule | undefined {
  return procModules().find((m) => m.name === name);
}

/**
 * 802.1Q VLAN support: small, a module in both Debian kernels, and a chain of five, listed so that each
 * module comes before its dependencies (an unload order): 8021q -> garp, mrp; garp -> stp, llc; stp -> llc.
 */
export const CHAIN_8021Q: readonly string[] = ['8021q', 'garp', 'mrp', 'stp', 'llc'];

export function sysfs(path: string): string {
  return readFileSync(join('/sys/module', path), 'utf8').replace(/\n$/, '');
}

export function holders(name: string): string[] {
  return readdirSync(`/sys/module/${name}/holders`).sort();
}

/** Reads the kernel log records written since the last call (the first call returns everything). */
let kmsgSeq = -1;
export function kmsgSince(): string[] {
  const fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
  const lines: string[] = [];
  const buf = Buffer.alloc(16384);
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') break;
        if (code === 'EPIPE') continue; // overwritten records: keep reading
        throw e;
      }
      const record = buf.toString('utf8', 0, n);
      const semi = record.indexOf(';');
      const seq = Number(record.slice(0, semi).split(',')[1]);
      if (seq > kmsgSeq) {
        kmsgSeq = seq;
        lines.push(record.slice(semi + 1).split('\n')[0]!);
      }
    }
  } finally {
    closeSync(fd);
  }
  return lines;
}

/** Marks the current end of the kernel log; `kmsgSince()` then returns only newer lines. */
export function kmsgMark(): void {
  kmsgSince();
}

export const OUR_MODULES = [
  'kernmod_importer',
  'kernmod_exporter',
  'kernmod_hello',
  'kernmod_params',
  'kernmod_fail',
  'kernmod_slow',
  'kernmod_forged',
];

/** Unloads every module of ours that a test left behind (importer before exporter). */
export function unloadOurs(km: Kernmod): void {
  for (const name of OUR_MODULES) {
    if (procModule(name)) {
      try {
        km.unloadModuleSync(name, { wait: 2000 });
      } catch {
        km.unloadModuleSync(name, { force: true });
      }
    }
  }
}

export function kernelBackends(): Array<BackendCase & { km: () => Kernmod }> {
  return realBackends().map((c) => ({ ...c, km: () => bind(c.make()) }));
}
