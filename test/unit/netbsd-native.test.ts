// native/sys_netbsd.cc on a host that is not NetBSD: no NetBSD kernel or compiler runs here, so this
// proves what can be proved — that the NetBSD layer compiles (with -Werror) against a stub of NetBSD's
// <sys/module.h> (test/native-stubs/netbsd, mirroring module.h 1.48), that modctl() gets C linkage,
// that kernmod.cc's N-API glue for it compiles, and, against a SIMULATED modctl()
// (test/native-stubs/netbsd/modctl_sim.cc), what it hands the kernel and how it treats the answers.
// Skipped where g++ is missing.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const stubs = join(root, 'test', 'native-stubs', 'netbsd');
const haveGxx = spawnSync('g++', ['--version']).status === 0;
const out = mkdtempSync(join(tmpdir(), 'kernmod-netbsd-native-'));
const base = ['-std=c++17', '-Wall', '-Wextra', '-Werror', '-DKERNMOD_MODCTL=1', '-I', stubs, '-I', join(root, 'native')];

function gxx(args: string[]) {
  const r = spawnSync('g++', args, { cwd: root, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

describe.skipIf(!haveGxx)('native/sys_netbsd.cc, compiled against the <sys/module.h> stub', { timeout: 120_000 }, () => {
  it('compiles with -Wall -Wextra -Werror and calls modctl with C linkage', () => {
    const obj = join(out, 'sys_netbsd.o');
    const r = gxx([...base, '-c', 'native/sys_netbsd.cc', '-o', obj]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const nm = spawnSync('nm', [obj], { encoding: 'utf8' });
    if (nm.status === 0) expect(nm.stdout).toMatch(/^\s+U modctl$/m); // unmangled: the C library's symbol
  });

  it("kernmod.cc's modctl exports compile (N-API glue), with and without KERNMOD_MODCTL", () => {
    const nodeInclude = join(dirname(dirname(process.execPath)), 'include', 'node');
    if (!existsSync(join(nodeInclude, 'node_api.h'))) return; // no Node headers on this host
    const napi = (createRequire(import.meta.url)('node-addon-api') as { include_dir: string }).include_dir;
    const common = [
      '-fsyntax-only',
      '-DNAPI_CPP_EXCEPTIONS',
      '-DNODE_GYP_MODULE_NAME=kernmod',
      '-I',
      nodeInclude,
      '-I',
      resolve(root, napi),
    ];
    const withModctl = gxx([...base, ...common, 'native/kernmod.cc']);
    expect(withModctl.stderr).toBe('');
    expect(withModctl.status).toBe(0);
    const linux = gxx(['-std=c++17', '-Wall', '-Wextra', '-Werror', '-I', join(root, 'native'), ...common, 'native/kernmod.cc']);
    expect(linux.status).toBe(0);
  });

  it('passes the kernel what modctl(2) documents and handles its answers (against a simulated modctl)', () => {
    const exe = join(out, 'modctl_sim');
    const r = gxx([...base, 'native/sys_netbsd.cc', join(stubs, 'modctl_sim.cc'), '-o', exe]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const run = spawnSync(exe, { encoding: 'utf8' });
    const lines = run.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('not ok'))).toEqual([]);
    expect(lines.at(-1)).toMatch(/^\d+ passed, 0 failed$/);
    expect(lines.filter((l) => l.startsWith('ok')).length).toBeGreaterThanOrEqual(26);
    expect(run.status).toBe(0);
  });
});

describe('binding.gyp', () => {
  it('compiles sys_netbsd.cc with KERNMOD_MODCTL on NetBSD only, and keeps Linux and the rest as they were', () => {
    const gyp = JSON.parse(readFileSync(join(root, 'binding.gyp'), 'utf8')) as {
      targets: Array<{ sources: string[]; conditions: Array<[string, { sources: string[]; defines?: string[] }]> }>;
    };
    const t = gyp.targets[0]!;
    expect(t.sources).toEqual(['native/kernmod.cc']);
    const cond = Object.fromEntries(t.conditions.map(([c, v]) => [c, v]));
    expect(cond["OS=='linux'"]).toEqual({ sources: ['native/sys_linux.cc'] });
    // -pthread: Node's common.gypi adds it for Linux and the other BSDs but not NetBSD, and the addon
    // starts a thread of its own (the syscall thread).
    expect(cond["OS=='netbsd'"]).toEqual({
      sources: ['native/sys_netbsd.cc'],
      defines: ['KERNMOD_MODCTL=1'],
      cflags: ['-pthread'],
      ldflags: ['-pthread'],
    });
    expect(cond["OS!='linux' and OS!='netbsd'"]).toEqual({ sources: ['native/sys_other.cc'] });
  });
});
