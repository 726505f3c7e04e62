// modprobe in a real kernel (root, inside the qemu guest; the host root with Debian's module trees is
// mounted read-only at /): probe of a Debian module with a dependency chain and its removal, our own
// importer/exporter pair through a module directory we generate in /tmp (a hand-written text
// modules.dep: no depmod, no .bin index, which kmod itself could not use), install/remove directives
// observed through their effects, and the CLI against kmod's own modprobe in the same guest.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { release as osRelease } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Modprobe } from '../../../lib/modprobe/modprobe.js';
import type { StepResult } from '../../../lib/modprobe/probe.js';
import { CHAIN_8021Q, holders, kernelBackends, procModule, requireKernel, testModules, unloadOurs } from '../helpers.js';

requireKernel();
const { modules: m } = testModules();
const release = osRelease();
const moddir = `/lib/modules/${release}`;
// `kernmod modprobe` as the compiled CLI runs it: modprobeCommand over the default backend. (Started
// through this small runner, so the test does not depend on how lib/cli/main.ts dispatches.)
const dist = (p: string) => new URL(`../../../dist/lib/${p}`, import.meta.url).pathname;
const cli = dist('cli/modprobe.js');
const RUNNER = `
const { modprobeCommand, unavailableKernmod } = await import(${JSON.stringify(cli)});
const { withBackend } = await import(${JSON.stringify(dist('kernmod.js'))});
const { loadBackend } = await import(${JSON.stringify(dist('backend/select.js'))});
let km;
try { km = withBackend(loadBackend()); } catch (e) { km = unavailableKernmod(e); }
const io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };
process.exitCode = await modprobeCommand(process.argv.slice(1), km, io);
`;

function unloadChain(): void {
  for (const name of CHAIN_8021Q) if (procModule(name)) spawnSync('rmmod', [name]);
}

function tmp(): string {
  return mkdtempSync('/tmp/kernmod-modprobe-'); // the guest's /tmp is a writable tmpfs
}

describe.each(kernelBackends())('modprobe on a real kernel: $label backend', ({ km: make }) => {
  const km = make();
  afterEach(() => {
    unloadChain();
    unloadOurs(km);
  });

  it('probe loads a Debian module and its dependency chain in a valid order; remove takes them all out', async () => {
    expect(existsSync(`${moddir}/modules.dep.bin`)).toBe(true);
    for (const name of CHAIN_8021Q) expect(procModule(name), `${name} must not be loaded before the test`).toBeUndefined();
    const mp = await Modprobe.open();
    const plan = mp.resolve('8021q');
    expect(plan.modules).toHaveLength(1);
    expect(plan.modules[0]!.steps.map((s) => s.module).sort()).toEqual([...CHAIN_8021Q].sort());

    const r = await mp.probe('8021q', { kernmod: km });
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    const step = Object.fromEntries(r.steps.map((s) => [s.module, s])) as Record<string, StepResult>;
    for (const name of CHAIN_8021Q) {
      expect(step[name]).toMatchObject({ action: 'insmod', outcome: 'done' });
      expect(procModule(name)?.state).toBe('Live');
    }
    // Every module the kernel says uses X (X's holders) started loading only after X had finished.
    for (const name of CHAIN_8021Q) {
      for (const h of holders(name)) {
        expect(CHAIN_8021Q).toContain(h);
        expect(step[h]!.startedAt).toBeGreaterThanOrEqual(step[name]!.startedAt + step[name]!.ms);
      }
    }
    expect(holders('garp')).toEqual(['8021q']);
    expect(holders('mrp')).toEqual(['8021q']);
    expect(holders('stp')).toEqual(['garp']);
    expect(holders('llc').sort()).toEqual(['garp', 'stp']);
    expect(holders('8021q')).toEqual([]);

    // Already loaded: nothing to do.
    const again = await mp.probe('8021q', { kernmod: km });
    expect(again).toMatchObject({ ok: true, steps: [] });

    const rm = await mp.remove('8021q', { kernmod: km });
    expect(rm.error).toBeUndefined();
    expect(rm.steps.map((s) => [s.module, s.outcome])).toEqual([
      ['8021q', 'done'],
      ['garp', 'done'],
      ['stp', 'done'],
      ['mrp', 'done'],
      ['llc', 'done'],
    ]);
    for (const name of CHAIN_8021Q) expect(procModule(name)).toBeUndefined();
  });

  it('loads our importer/exporter pair through a generated module directory (text modules.dep only)', async () => {
    const dir = join(tmp(), 'lib/modules', release);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'modules.dep'), `${m.importer}: ${m.exporter}\n${m.exporter}:\n${m.hello}:\n`);
    writeFileSync(join(dir, 'modules.alias'), 'alias kernmod-pair kernmod_importer\n');
    const conf = join(dir, '..', 'conf');
    mkdirSync(conf);
    writeFileSync(join(conf, 'k.conf'), 'softdep kernmod_importer post: kernmod_hello\n');
    const mp = await Modprobe.open({ dirname: dir, config: [conf], cmdline: false });
    expect(mp.moduleDirectory.formats.dep).toBe('text');

    const r = await mp.probe('kernmod-pair', { kernmod: km });
    expect(r.error).toBeUndefined();
    expect(r.steps.map((s) => [s.module, s.role, s.outcome])).toEqual([
      ['kernmod_exporter', 'dependency', 'done'],
      ['kernmod_importer', 'target', 'done'],
      ['kernmod_hello', 'softdep', 'done'],
    ]);
    expect(procModule('kernmod_importer')?.state).toBe('Live');
    expect(holders('kernmod_exporter')).toEqual(['kernmod_importer']);
    expect(procModule('kernmod_hello')?.state).toBe('Live');

    const rm = await mp.remove('kernmod_importer', { kernmod: km });
    expect(rm.error).toBeUndefined();
    expect(rm.steps.map((s) => [s.module, s.role])).toEqual([
      ['kernmod_hello', 'softdep'],
      ['kernmod_importer', 'target'],
      ['kernmod_exporter', 'dependency'],
    ]);
    for (const name of ['kernmod_importer', 'kernmod_exporter', 'kernmod_hello']) expect(procModule(name)).toBeUndefined();
  });

  it('install and remove directives run their commands with MODPROBE_MODULE and the options', async () => {
    const base = tmp();
    const dir = join(base, 'moddir');
    mkdirSync(dir);
    writeFileSync(join(dir, 'modules.dep'), `${m.hello}:\n`);
    const ran = join(base, 'ran');
    const conf = join(base, 'conf');
    mkdirSync(conf);
    // The install command records what it was given, then loads the module itself (with insmod from
    // the guest's kmod): the effect is observable in the kernel too.
    writeFileSync(
      join(conf, 'i.conf'),
      [
        `install kernmod_hello echo "install $MODPROBE_MODULE [$CMDLINE_OPTS]" >> ${ran} && insmod ${m.hello}`,
        `remove kernmod_hello echo "remove $MODPROBE_MODULE" >> ${ran} && rmmod kernmod_hello`,
        'options kernmod_hello x=1',
        '',
      ].join('\n'),
    );
    const mp = await Modprobe.open({ dirname: dir, config: [conf], cmdline: false });
    const r = await mp.probe('kernmod_hello', { kernmod: km, params: 'y=2' });
    expect(r.error).toBeUndefined();
    expect(r.steps).toMatchObject([{ module: 'kernmod_hello', action: 'install', outcome: 'done' }]);
    expect(readFileSync(ran, 'utf8')).toBe('install kernmod_hello [x=1 y=2]\n');
    expect(procModule('kernmod_hello')?.state).toBe('Live');

    const rm = await mp.remove('kernmod_hello', { kernmod: km });
    expect(rm.steps).toMatchObject([{ module: 'kernmod_hello', action: 'remove', outcome: 'done' }]);
    expect(readFileSync(ran, 'utf8')).toBe('install kernmod_hello [x=1 y=2]\nremove kernmod_hello\n');
    expect(procModule('kernmod_hello')).toBeUndefined();
  });
});

describe.skipIf(!existsSync(cli))('kernmod modprobe (compiled CLI) next to kmod in the guest', () => {
  afterEach(unloadChain);
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--input-type=module', '-e', RUNNER, '--', ...args], { encoding: 'utf8' });

  it('--show-depends and -n -v print what kmod prints on the running kernel', () => {
    for (const args of [
      ['-D', '8021q'],
      ['-D', 'fs-vfat'],
      ['-D', 'char-major-10-237'],
      ['-n', '-v', '8021q'],
    ]) {
      const kmod = spawnSync('modprobe', args, { encoding: 'utf8' });
      const ours = run(...args);
      expect(ours.stdout).toBe(kmod.stdout);
      expect(ours.status).toBe(kmod.status);
    }
  });

  it('loads and removes with exit 0 and no output, like kmod; kmod then agrees it is loaded', () => {
    expect(run('8021q')).toMatchObject({ status: 0, stdout: '', stderr: '' });
    for (const name of CHAIN_8021Q) expect(procModule(name)?.state).toBe('Live');
    // kmod's modprobe sees them loaded: -n -v prints nothing left to do
    expect(spawnSync('modprobe', ['-n', '-v', '8021q'], { encoding: 'utf8' }).stdout).toBe('');
    expect(run('-r', '8021q')).toMatchObject({ status: 0, stdout: '', stderr: '' });
    for (const name of CHAIN_8021Q) expect(procModule(name)).toBeUndefined();
  });
});
