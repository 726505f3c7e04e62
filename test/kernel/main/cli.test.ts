// The CLI in the real kernel: `kernmod insmod` / `kernmod rmmod` / `kernmod lsmod` as a user runs them
// (compiled dist/).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { formatLsmod } from '../../../lib/cli/lsmod.js';
import type { LoadedModule } from '../../../lib/linux/state.js';
import { Modprobe } from '../../../lib/modprobe/modprobe.js';
import { holders, kernelBackends, procModule, requireKernel, sysfs, testModules, unloadOurs } from '../helpers.js';

requireKernel();
const { modules: m } = testModules();
const cli = new URL('../../../dist/lib/cli/main.js', import.meta.url).pathname;

describe.skipIf(!existsSync(cli))('kernmod insmod / rmmod (compiled CLI)', () => {
  const km = kernelBackends()[0]!.km();
  afterEach(() => unloadOurs(km));
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

  it('insmod FILE PARAM=VALUE loads with the params; rmmod removes it', () => {
    const a = run('insmod', m.params, 'p_charp=two words', 'p_int=7');
    // Only the kernel's own warnings (the taint line of a boot's first out-of-tree load) may appear.
    expect(a.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('insmod: WARNING: kernel: '))).toEqual([]);
    expect(a.status).toBe(0);
    expect(sysfs('kernmod_params/parameters/p_charp')).toBe('two words');
    expect(sysfs('kernmod_params/parameters/p_int')).toBe('7');
    const b = run('rmmod', 'kernmod-params');
    expect(b.status).toBe(0);
    expect(procModule('kernmod_params')).toBeUndefined();
  });

  it("insmod prints kmod's error line plus a hint, exit 1", () => {
    run('insmod', m.hello);
    const r = run('insmod', m.hello);
    expect(r.status).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe(`insmod: ERROR: could not insert module ${m.hello}: File exists`);
    expect(r.stderr).toMatch(/^insmod: hint: /m);
  });

  it('rmmod of a module in use names its holders; --json gives the error object', () => {
    run('insmod', m.exporter);
    run('insmod', m.importer);
    const r = run('rmmod', 'kernmod_exporter');
    expect(r.status).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe('rmmod: ERROR: Module kernmod_exporter is in use by: kernmod_importer');
    const j = run('rmmod', '--json', 'kernmod_exporter');
    expect(JSON.parse(j.stdout)).toMatchObject({
      ok: false,
      error: { code: 'EAGAIN', syscall: 'delete_module', module: 'kernmod_exporter' },
    });
  });

  // lsmod reads only coresize, refcnt and holders/ (fields 'lsmod'), listing holders/ with one readdir and
  // again in the directory's own order when there are two or more: llc, held by stp and garp, is that case
  // (6.1's sysfs lists stp first, not the sorted order: a listing that sorted fails here).
  it("lsmod prints what kmod's lsmod prints, a module with two holders included; --json has the same rows", async () => {
    const mp = await Modprobe.open();
    const probed = await mp.probe('8021q', { kernmod: km });
    try {
      expect(probed.ok).toBe(true);
      run('insmod', m.exporter);
      run('insmod', m.importer);
      expect(holders('llc')).toHaveLength(2);
      const ours = run('lsmod');
      const kmod = spawnSync('lsmod', { encoding: 'utf8' });
      expect(ours.status).toBe(0);
      expect(ours.stderr).toBe('');
      expect(ours.stdout).toBe(kmod.stdout);
      expect(kmod.stdout).toMatch(/^llc +\d+ +2 (stp,garp|garp,stp)$/m);
      // The --json rows carry what the text shows: lsmod's own formatter over them gives kmod's output.
      expect(formatLsmod(JSON.parse(run('lsmod', '--json').stdout) as LoadedModule[])).toBe(kmod.stdout);
    } finally {
      unloadOurs(km);
      await mp.remove('8021q', { kernmod: km });
    }
  });
});
