// Preflight checks over synthetic /proc + /sys trees and file facts (the real kernel: test/kernel).
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compiledLib } from './compiled-lib.js';
import {
  fileChecks,
  hasCapSysModule,
  parseLockdown,
  systemChecks,
  systemFacts,
  type FileFacts,
  type SystemFacts,
} from '../../lib/linux/preflight.js';

function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'kernmod-pre-'));
  for (const [p, v] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), v);
  }
  return root;
}

const byId = (checks: { id: string; status: string }[]) => Object.fromEntries(checks.map((c) => [c.id, c.status]));

describe('system facts', () => {
  it('reads CapEff bit 16, lockdown, modules_disabled, sig_enforce and compression', () => {
    expect(hasCapSysModule('CapEff:\t000001fffeffffff\n')).toBe(true);
    expect(hasCapSysModule('CapEff:\t000001fffffeffff\n')).toBe(false);
    expect(parseLockdown('none [integrity] confidentiality')).toBe('integrity');
    const root = fakeRoot({
      'proc/modules': '',
      'proc/self/status': 'Name:\tx\nCapEff:\t0000000000000000\n',
      'proc/sys/kernel/modules_disabled': '1\n',
      'sys/kernel/security/lockdown': '[none] integrity confidentiality\n',
      'sys/module/module/parameters/sig_enforce': 'Y\n',
      'sys/module/compression': 'xz\n',
    });
    const f = systemFacts({ root, release: '6.12.0-test' });
    expect(f).toEqual({
      moduleSupport: true,
      capSysModule: false,
      modulesDisabled: true,
      lockdown: 'none',
      sigEnforce: true,
      compression: 'xz',
      release: '6.12.0-test',
    });
    expect(byId(systemChecks(f))).toEqual({
      'module-support': 'pass',
      'cap-sys-module': 'fail',
      'modules-disabled': 'fail',
      lockdown: 'pass',
      'sig-enforce': 'warn',
      compression: 'info',
    });
  });

  it('a kernel without modules fails the first check with the ENOSYS explanation', () => {
    const checks = systemChecks(systemFacts({ root: fakeRoot({}), release: 'r' }));
    expect(checks[0]).toMatchObject({ id: 'module-support', status: 'fail', message: expect.stringMatching(/ENOSYS/) });
  });
});

describe('system facts from hostile trees', () => {
  // A FIFO, or an endless file, where a /proc or /sys file should be (a container's root, a test
  // tree): each fact reads as unknown, at once. Run in a child with a time limit, since reading a FIFO
  // blocks the thread that reads it.
  it.skipIf(process.platform !== 'linux')(
    'reads no FIFO and no endless file',
    () => {
      const root = fakeRoot({ 'proc/modules': '', 'proc/sys/kernel/modules_disabled': '0\n' });
      mkdirSync(join(root, 'proc/self'), { recursive: true });
      mkdirSync(join(root, 'sys/kernel/security'), { recursive: true });
      execFileSync('mkfifo', [join(root, 'proc/self/status')]);
      execFileSync('mkfifo', [join(root, 'sys/kernel/security/lockdown')]);
      mkdirSync(join(root, 'sys/module/module/parameters'), { recursive: true });
      // A writer holds this FIFO open: a plain read would wait for its end forever.
      execFileSync('mkfifo', [join(root, 'sys/module/module/parameters/sig_enforce')]);
      // And an endless file: a character device.
      symlinkSync('/dev/zero', join(root, 'sys/module/compression'));
      const writer = openSync(join(root, 'sys/module/module/parameters/sig_enforce'), constants.O_RDWR | constants.O_NONBLOCK);
      try {
        const lib = compiledLib();
        const r = spawnSync(
          process.execPath,
          [
            '--input-type=module',
            '-e',
            `const m = await import(${JSON.stringify(`${lib}/lib/linux/preflight.js`)}); ` +
              `console.log(JSON.stringify(m.systemFacts({ root: ${JSON.stringify(root)}, release: 'r' })));`,
          ],
          { encoding: 'utf8', timeout: 20_000 },
        );
        expect(r.error).toBeUndefined();
        expect(JSON.parse(r.stdout)).toEqual({
          moduleSupport: true,
          capSysModule: null,
          modulesDisabled: false,
          lockdown: null,
          sigEnforce: null,
          compression: null,
          release: 'r',
        });
      } finally {
        closeSync(writer);
      }
    },
    60_000,
  );
});

describe('file checks', () => {
  const sys: SystemFacts = {
    moduleSupport: true,
    capSysModule: true,
    modulesDisabled: false,
    lockdown: 'none',
    sigEnforce: false,
    compression: 'xz',
    release: '6.12.9',
  };
  const file: FileFacts = {
    name: 'demo',
    vermagic: '6.12.9 SMP preempt mod_unload modversions ',
    signed: false,
    compression: 'zstd',
    params: ['p_int', 'p-bool'],
    depends: ['dep_a'],
  };

  it('passes a module built for this kernel with its deps loaded and known params', () => {
    const c = fileChecks(file, sys, { params: ['p_int', 'p_bool'], loaded: (n) => n === 'dep_a' });
    expect(byId(c)).toEqual({
      vermagic: 'pass',
      signature: 'warn',
      loaded: 'pass',
      depends: 'pass',
      params: 'pass',
      'file-compression': 'info',
    });
  });

  it('names each cause: other kernel, unsigned under enforcement, already loaded, missing deps, unknown params', () => {
    const c = fileChecks(
      { ...file, vermagic: '6.1.0 SMP' },
      { ...sys, sigEnforce: true },
      { params: ['nosuch'], loaded: (n) => n === 'demo' },
    );
    expect(byId(c)).toMatchObject({ vermagic: 'fail', signature: 'fail', loaded: 'fail', depends: 'fail', params: 'warn' });
    expect(c.find((x) => x.id === 'signature')?.message).toMatch(/EKEYREJECTED/);
    expect(c.find((x) => x.id === 'depends')?.message).toMatch(/dep_a/);
  });
});
