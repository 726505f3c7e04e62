// Desired state on a real kernel (root, inside the qemu guest): `kernmod apply` with every state on
// Debian's own modules, read back from /proc/modules, sysfs and the files; then the files checked
// with their real consumers — kmod's modprobe (-c, and a disabled module refused) and systemd's
// modules-load, which loads `loop` again at "boot" with the persisted params. The guest's /etc is
// read-only, so tmpfs is mounted over /etc/modprobe.d and /etc/modules-load.d for this file.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MARKER } from '../../../lib/provision/render.js';
import { CHAIN_8021Q, procModule, requireKernel, sysfs } from '../helpers.js';

requireKernel();
const cli = new URL('../../../dist/lib/cli/main.js', import.meta.url).pathname;
const LOAD_DIR = '/etc/modules-load.d';
const CONFIG_DIR = '/etc/modprobe.d';
const OURS = ['loop', 'dummy', 'pcspkr', 'dm_mod', ...CHAIN_8021Q];

function sh(cmd: string, ...args: string[]) {
  return spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 }); // modprobe -c prints megabytes
}
function unloadAll(): void {
  for (const m of OURS) if (procModule(m)) sh('rmmod', m);
}
const tmp = mkdtempSync('/tmp/kernmod-provision-');
function spec(name: string, text: string): string {
  const f = join(tmp, name);
  writeFileSync(f, text);
  return f;
}
function apply(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, 'apply', ...args], { encoding: 'utf8' });
  return { ...r, json: args.includes('--json') && r.stdout ? JSON.parse(r.stdout) : undefined };
}

const EVERY_STATE = spec(
  'every-state.yaml',
  `# every state, on Debian's own modules
loop:
  state: installed
  params:
    max_loop: 6
8021q: loaded
dummy: blacklisted
pcspkr:
  state: disabled
`,
);

// Each CLI start is seconds under TCG, and a test makes several.
describe.skipIf(!existsSync(cli))('kernmod apply on a real kernel', { timeout: 600_000 }, () => {
  beforeAll(() => {
    for (const d of [LOAD_DIR, CONFIG_DIR]) expect(sh('mount', '-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', d).status).toBe(0);
    unloadAll();
    // Loaded before, so that blacklisted and disabled have something to unload.
    for (const m of ['dummy', 'pcspkr']) expect(sh('modprobe', m).status).toBe(0);
  });
  afterAll(() => {
    unloadAll();
    for (const d of [LOAD_DIR, CONFIG_DIR]) sh('umount', d);
  });

  it('every state: the kernel and the files afterwards; a second apply changes nothing', () => {
    const r = apply('--json', EVERY_STATE);
    expect(r.stderr).toBe('');
    expect(r.status, r.stdout).toBe(0);
    expect(r.json).toMatchObject({ ok: true, changed: true });
    expect(r.json.actions.map((a: { module: string; action: string; status: string }) => `${a.module} ${a.action} ${a.status}`)).toEqual([
      'loop write-file done',
      'loop write-file done',
      'loop load done',
      '8021q load done',
      'dummy write-file done',
      'dummy unload done',
      'pcspkr write-file done',
      'pcspkr unload done',
    ]);
    expect(procModule('loop')?.state).toBe('Live');
    expect(sysfs('loop/parameters/max_loop')).toBe('6');
    for (const m of CHAIN_8021Q) expect(procModule(m)?.state, m).toBe('Live');
    expect(procModule('dummy')).toBeUndefined();
    expect(procModule('pcspkr')).toBeUndefined();
    expect(readFileSync(`${LOAD_DIR}/loop.conf`, 'utf8')).toBe(`${MARKER}\nloop\n`);
    expect(readFileSync(`${CONFIG_DIR}/loop.conf`, 'utf8')).toBe(`${MARKER}\noptions loop max_loop=6\n`);
    expect(readFileSync(`${CONFIG_DIR}/dummy.conf`, 'utf8')).toBe(`${MARKER}\nblacklist dummy\n`);
    expect(readFileSync(`${CONFIG_DIR}/pcspkr.conf`, 'utf8')).toBe(`${MARKER}\ninstall pcspkr /bin/false\n`);
    expect(existsSync(`${LOAD_DIR}/8021q.conf`)).toBe(false);

    const again = apply(EVERY_STATE);
    expect(again.status).toBe(0);
    expect(again.stdout).toBe('no changes: the system already matches the spec\n');
    const check = apply('--check', EVERY_STATE);
    expect(check.status).toBe(0);
  });

  it("kmod's modprobe reads the persisted lines; modprobe of the disabled module fails", () => {
    const c = sh('modprobe', '-c');
    expect(c.status).toBe(0);
    const lines = c.stdout.split('\n');
    expect(lines).toContain('options loop max_loop=6');
    expect(lines).toContain('blacklist dummy');
    expect(lines).toContain('install pcspkr /bin/false');
    const p = sh('modprobe', 'pcspkr');
    expect(p.status).not.toBe(0);
    expect(p.stderr).toMatch(/install command '\/bin\/false' for module pcspkr/);
    expect(procModule('pcspkr')).toBeUndefined();
  });

  it('--check after an unload by hand: exit 2, the load it would make, and nothing changed', () => {
    expect(sh('rmmod', 'loop').status).toBe(0);
    const r = apply('--check', '--json', EVERY_STATE);
    expect(r.status).toBe(2);
    expect(r.json).toMatchObject({
      ok: true,
      changed: true,
      check: true,
      actions: [{ module: 'loop', action: 'load', status: 'planned', params: 'max_loop=6' }],
    });
    expect(procModule('loop')).toBeUndefined();
  });

  it("systemd's modules-load (the boot-time path) loads loop again with the persisted params", () => {
    if (procModule('loop')) sh('rmmod', 'loop');
    const r = sh('/lib/systemd/systemd-modules-load');
    expect(r.status, r.stderr).toBe(0);
    expect(procModule('loop')?.state).toBe('Live');
    expect(sysfs('loop/parameters/max_loop')).toBe('6');
    expect(apply(EVERY_STATE).stdout).toBe('no changes: the system already matches the spec\n');
  });

  it('a writable parameter is changed at run time, without a reload', () => {
    expect(sh('modprobe', 'dm_mod').status).toBe(0);
    const param = '/sys/module/dm_mod/parameters/reserved_bio_based_ios';
    expect(statSync(param).mode & 0o200).not.toBe(0);
    // A run-time value of another parameter: a reload would reset it to its default.
    const other = '/sys/module/dm_mod/parameters/swap_bios';
    const otherBefore = sysfs('dm_mod/parameters/swap_bios');
    writeFileSync(other, String(Number(otherBefore) + 7));
    const before = sysfs('dm_mod/parameters/reserved_bio_based_ios');
    const want = String(Number(before) + 5);
    const r = apply(
      '--json',
      spec('dm.json', JSON.stringify({ 'dm-mod': { state: 'loaded', params: { reserved_bio_based_ios: Number(want) } } })),
    );
    expect(r.status).toBe(0);
    expect(r.json.actions).toEqual([
      { module: 'dm_mod', action: 'set-param', param: 'reserved_bio_based_ios', before, after: want, status: 'done' },
    ]);
    expect(sysfs('dm_mod/parameters/reserved_bio_based_ios')).toBe(want);
    expect(sysfs('dm_mod/parameters/swap_bios')).toBe(String(Number(otherBefore) + 7));
  });

  it('a read-only parameter that differs is drift (exit 2 with --check); reload: true unloads and loads it', () => {
    const drifted = spec('loop4.yaml', 'loop: { state: installed, params: { max_loop: 4 } }\n');
    const check = apply('--check', '--json', drifted);
    expect(check.status).toBe(2);
    expect(check.json.drift).toEqual([{ module: 'loop', param: 'max_loop', expected: '4', actual: '6', reload: false }]);
    const r = apply('--json', drifted);
    expect(r.status).toBe(0);
    expect(r.json.drift).toHaveLength(1);
    expect(sysfs('loop/parameters/max_loop')).toBe('6'); // only the persisted file changed
    expect(r.json.actions.map((a: { action: string }) => a.action)).toEqual(['write-file']);
    const reload = apply('--json', spec('loop4r.yaml', 'loop: { state: installed, params: { max_loop: 4 }, reload: true }\n'));
    expect(reload.status, reload.stdout).toBe(0);
    expect(reload.json.actions.map((a: { action: string; status: string }) => `${a.action} ${a.status}`)).toEqual(['reload done']);
    expect(sysfs('loop/parameters/max_loop')).toBe('4');
  });

  it('uninstalled removes the persisted files and unloads; a bad spec changes nothing', () => {
    const bad = apply(spec('bad.yaml', 'loop: uninstalled\nno_such_module_here: loaded\ndummy: sideways\n'));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/no_such_module_here: not found|dummy: state "sideways"/);
    expect(procModule('loop')?.state).toBe('Live');
    const r = apply(spec('uninstall.yaml', 'loop: uninstalled\ndummy: uninstalled\npcspkr: uninstalled\n8021q: unloaded\n'));
    expect(r.status, r.stderr).toBe(0);
    expect(procModule('loop')).toBeUndefined();
    expect(procModule('8021q')).toBeUndefined();
    for (const f of [`${LOAD_DIR}/loop.conf`, `${CONFIG_DIR}/loop.conf`, `${CONFIG_DIR}/dummy.conf`, `${CONFIG_DIR}/pcspkr.conf`])
      expect(existsSync(f), f).toBe(false);
    expect(sh('modprobe', 'pcspkr').status).toBe(0); // no longer disabled
  });
});
