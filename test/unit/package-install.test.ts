// The package as users get it: `npm pack` (after the prebuilt addons are made), then a clean install of
// the tarball into scratch projects, one with this machine's compiler and one with CC=/bin/false
// CXX=/bin/false. Both must run on the native backend from the shipped prebuilt addon, and a load on
// this host must give a typed error (ENOSYS where the kernel has no module support).
//
// Offline: the scratch project gets a lockfile cut from this checkout's (kernmod's runtime dependencies
// only), so `npm ci --offline` takes every dependency from the npm cache that `npm ci` filled here.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
const hasCompiler = spawnSync('sh', ['-c', 'command -v g++ && command -v make && command -v python3'], { encoding: 'utf8' }).status === 0;
const canRun = process.platform === 'linux' && process.arch === 'x64' && hasCompiler;

interface LockEntry {
  version?: string;
  resolved?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  [k: string]: unknown;
}

/** A lockfile for a project that depends on the tarball alone: kernmod's runtime closure from ours. */
function scratchLock(tarball: string): object {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as LockEntry & { bin: object };
  const registry = execFileSync('npm', ['config', 'get', 'registry'], { encoding: 'utf8' }).trim().replace(/\/?$/, '/');
  const spec = `file:${tarball}`;
  const packages: Record<string, LockEntry> = {
    '': { name: 'app', dependencies: { kernmod: spec } },
    'node_modules/kernmod': {
      version: pkg.version,
      resolved: spec,
      hasInstallScript: true,
      dependencies: pkg.dependencies,
      optionalDependencies: pkg.optionalDependencies,
      bin: pkg.bin,
    },
  };
  const queue: Array<[string, Record<string, string>]> = [['', { ...pkg.dependencies, ...pkg.optionalDependencies }]];
  while (queue.length) {
    const [from, deps] = queue.shift()!;
    for (const name of Object.keys(deps)) {
      // Node's lookup: the nearest node_modules/<name> at or above the dependent.
      let dir = from;
      let key: string | undefined;
      for (;;) {
        const k = `${dir ? `${dir}/` : ''}node_modules/${name}`;
        if (lock.packages[k]) {
          key = k;
          break;
        }
        if (!dir) break;
        const i = dir.lastIndexOf('/node_modules/');
        dir = i < 0 ? '' : dir.slice(0, i);
      }
      if (!key || packages[key]) continue;
      const e = { ...lock.packages[key]! };
      // An entry without `resolved` would make npm ask the registry where the tarball is.
      e.resolved ??= `${registry}${name}/-/${name.split('/').pop()}-${e.version}.tgz`;
      packages[key] = e;
      queue.push([key, { ...e.dependencies, ...e.optionalDependencies, ...e.peerDependencies }]);
    }
  }
  return { name: 'app', lockfileVersion: 3, requires: true, packages };
}

function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const PROBE = `
import * as kernmod from 'kernmod';
const out = { backend: kernmod.backend };
try {
  kernmod.loadModuleSync(new Uint8Array(64));
} catch (e) {
  out.error = { typed: e instanceof kernmod.KernmodError, code: e.code, syscall: e.syscall };
}
console.log(JSON.stringify(out));
`;

let work: string;
let tarball: string;
let files: string[];
const installs: Record<'compiler' | 'noCompiler', { app: string; install: Awaited<ReturnType<typeof run>> }> = {} as never;

describe.skipIf(!canRun)('the packed package, installed', () => {
  beforeAll(async () => {
    const pre = await run(process.execPath, [join(root, 'scripts/prebuild.mjs')], root);
    expect(pre.status, pre.stderr).toBe(0);
    work = mkdtempSync(join(tmpdir(), 'kernmod-pack-'));
    const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], root);
    expect(pack.status, pack.stderr).toBe(0);
    const [report] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(work, report!.filename);
    files = report!.files.map((f) => f.path);
    const lock = scratchLock(tarball);
    const setups = (['compiler', 'noCompiler'] as const).map(async (kind) => {
      const app = join(work, kind);
      mkdirSync(app);
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { kernmod: `file:${tarball}` } }),
      );
      writeFileSync(join(app, 'package-lock.json'), JSON.stringify(lock));
      writeFileSync(join(app, 'probe.mjs'), PROBE);
      const env = kind === 'compiler' ? process.env : { ...process.env, CC: '/bin/false', CXX: '/bin/false' };
      installs[kind] = { app, install: await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--foreground-scripts'], app, env) };
    });
    await Promise.all(setups);
  }, 300_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ships the prebuilt addon for this platform', () => {
    expect(files).toContain('prebuilds/linux-x64-glibc/kernmod.node');
  });

  for (const kind of ['compiler', 'noCompiler'] as const) {
    const label = kind === 'compiler' ? 'with a compiler' : 'with CC=/bin/false CXX=/bin/false';
    it(`${label}: installs offline, builds nothing, and runs on the native backend`, async () => {
      const { app, install } = installs[kind];
      expect(install.status, install.stderr).toBe(0);
      expect(install.stdout + install.stderr).not.toMatch(/the native addon was not built/);
      expect(existsSync(join(app, 'node_modules/kernmod/build'))).toBe(false);
      const probe = await run(process.execPath, ['probe.mjs'], app);
      expect(probe.status, probe.stderr).toBe(0);
      const out = JSON.parse(probe.stdout) as { backend: string; error?: { typed: boolean; code: string; syscall: string } };
      expect(out.backend).toBe('native');
      expect(out.error?.typed).toBe(true);
      if (!existsSync('/proc/modules')) expect(out.error).toMatchObject({ code: 'ENOSYS', syscall: 'init_module' });
    });

    it(`${label}: kernmod doctor says the prebuilt addon is active`, async () => {
      const { app } = installs[kind];
      const r = await run(join(app, 'node_modules/.bin/kernmod'), ['doctor', '--json'], app);
      const report = JSON.parse(r.stdout) as { backend: { choice: { name: string; source: string; path: string } } };
      expect(report.backend.choice).toMatchObject({
        name: 'native',
        source: 'prebuilt',
        path: join(app, 'node_modules/kernmod/prebuilds/linux-x64-glibc/kernmod.node'),
      });
    });
  }
});
