// The kernel's own words on a load or unload (issue #17), in a real kernel: the lines /dev/kmsg holds
// for the call are on the result or the error, warnings lift what a user must see, and the hint names
// the cause the log gives. Debian's own modules (loop, dummy, 8021q) and ours.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import type { KernmodError } from '../../../lib/errors.js';
import { CHAIN_8021Q, kernelBackends, kmsgMark, kmsgSince, procModule, requireKernel, testModules, unloadOurs } from '../helpers.js';

requireKernel();
const { modules: m } = testModules();
const moduleDir = `/lib/modules/${release()}`;
const cli = new URL('../../../dist/lib/cli/main.js', import.meta.url).pathname;
const distKernmod = new URL('../../../dist/lib/kernmod.js', import.meta.url).pathname;

/** A Debian module's file (plain .ko on 6.1, .ko.xz on 6.12), from modules.dep; undefined if built in. */
function debianModule(name: string): string | undefined {
  const line = readFileSync(`${moduleDir}/modules.dep`, 'utf8')
    .split('\n')
    .find((l) => new RegExp(`/${name}\\.ko(\\.[a-z]+)?:`).test(l));
  return line && `${moduleDir}/${line.slice(0, line.indexOf(':'))}`;
}

const count = (lines: string[], text: string) => lines.filter((l) => l.includes(text)).length;
const DEBIAN = [...CHAIN_8021Q, 'dummy', 'loop'];

/** kernmod_fail compressed as kbuild does (CRC32, 1 MiB dictionary), in the guest's tmpfs. */
function failXz(): string {
  const out = '/tmp/kernmod-log-fail.ko.xz';
  if (!existsSync(out))
    writeFileSync(out, spawnSync('xz', ['--check=crc32', '--lzma2=dict=1MiB', '-c', m.fail], { maxBuffer: 1 << 26 }).stdout);
  return out;
}

describe.each(kernelBackends())('kernel log of a load or unload: $label backend', ({ km: make }) => {
  const km = make();
  afterEach(() => {
    unloadOurs(km);
    for (const name of DEBIAN) if (procModule(name)) km.unloadModuleSync(name, { kernelLog: false });
  });

  it("a compressed module whose init fails: EINVAL, its init's line once in dmesg and on err.kernelLog", async () => {
    kmsgMark();
    const err = (await km.loadModule(failXz(), { params: { err: 22 } }).catch((e: unknown) => e)) as KernmodError;
    expect(err).toMatchObject({ code: 'EINVAL' });
    const log = err.kernelLog!.map((r) => r.message);
    expect(log).toContain('kernmod_fail: init failing with -22');
    expect(err.hint).toContain('kernmod_fail: init failing with -22');
    // Once: a failing init must not be run a second time by a user-space retry (the load-path helper's fix).
    expect(count(kmsgSince(), 'kernmod_fail: init failing with -22')).toBe(1);
    expect(count(log, 'kernmod_fail: init failing with -22')).toBe(1);
  });

  it.skipIf(!debianModule('loop'))(
    "loop max_loop=abc: one attempt, the kernel's line on the error, the hint names the parameter",
    async () => {
      kmsgMark();
      const err = (await km.loadModule(debianModule('loop')!, { params: 'max_loop=abc' }).catch((e: unknown) => e)) as KernmodError;
      expect(err).toMatchObject({ code: 'EINVAL' });
      expect(err.kernelLog!.map((r) => r.message)).toEqual(["loop: `abc' invalid for parameter `max_loop'"]);
      expect(err.kernelLog![0]).toMatchObject({ level: 'err', seq: expect.any(Number), usec: expect.any(Number) });
      expect(err.hint).toBe("invalid parameter value: 'abc' for parameter max_loop of loop (see modinfo -p loop for its type)");
      expect(count(kmsgSince(), "invalid for parameter `max_loop'")).toBe(1);
    },
  );

  it.skipIf(!debianModule('dummy'))('dummy bogus_knob=1 loads, with the warning', async () => {
    const r = await km.loadModule(debianModule('dummy')!, { params: 'bogus_knob=1' });
    expect(procModule('dummy')?.state).toBe('Live');
    expect(r.kernelLog!.map((e) => e.message)).toContain("dummy: unknown parameter 'bogus_knob' ignored");
    expect(r.warnings).toContainEqual({
      kind: 'unknown-parameter',
      message: "dummy: unknown parameter 'bogus_knob' ignored",
      parameter: 'bogus_knob',
    });
  });

  it.skipIf(!debianModule('8021q'))('8021q without its dependencies: ENOENT, the Unknown symbol lines, a hint naming the exporters', () => {
    const err = (() => {
      try {
        km.loadModuleSync(debianModule('8021q')!);
      } catch (e) {
        return e as KernmodError;
      }
      throw new Error('8021q loaded without its dependencies');
    })();
    expect(err).toMatchObject({ code: 'ENOENT' });
    const unknown = err.kernelLog!.filter((r) => /^8021q: Unknown symbol \S+ \(err -2\)$/.test(r.message));
    expect(unknown.length).toBe(12);
    expect(err.hint).toMatch(
      /^unknown symbols \(12\) in 8021q: .*, exported by (garp, mrp|mrp, garp): load them first, or load 8021q with probe\(\)/,
    );
  });

  it('two loads at once each get only their own lines', async () => {
    const [a, b] = await Promise.all([km.loadModule(m.hello), km.loadModule(m.params, { params: { p_int: 5 } })]);
    expect(a.kernelLog!.map((r) => r.message)).toContain('kernmod_hello: init');
    expect(a.kernelLog!.every((r) => r.message.startsWith('kernmod_hello: '))).toBe(true);
    expect(b.kernelLog!.some((r) => r.message.startsWith('kernmod_params: p_int=5'))).toBe(true);
    expect(b.kernelLog!.every((r) => r.message.startsWith('kernmod_params: '))).toBe(true);
    const u = await km.unloadModule('kernmod_hello');
    expect(u.kernelLog!.map((r) => r.message)).toEqual(['kernmod_hello: exit']);
  });

  it('a flood of unrelated lines during a load does not break the capture', async () => {
    // Another process writes thousands of lines to /dev/kmsg (more than the ring holds) while init sleeps.
    const flood = spawn(
      process.execPath,
      [
        '-e',
        "const fs=require('fs');console.log('go');for(let " +
          "i=0;i<600;i++)fs.writeFileSync('/dev/kmsg','kernmod-flood: '+String(i).padStart(6,'0')+' " +
          "'+'x'.repeat(800)+'\\n')",
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => flood.on('exit', resolve));
    await new Promise((resolve) => flood.stdout.once('data', resolve));
    const r = await km.loadModule(m.slow, { params: { delay_ms: 3000 } });
    await exited;
    expect(r.kernelLog!.map((e) => e.message)).toContain('kernmod_slow: init done');
    expect(r.kernelLog!.every((e) => e.message.startsWith('kernmod_slow: '))).toBe(true);
  }, 60_000);

  it('a reader that may not read the log (not root, dmesg_restrict=1) gets no log and an unchanged error', () => {
    const restrict = readFileSync('/proc/sys/kernel/dmesg_restrict', 'utf8');
    writeFileSync('/proc/sys/kernel/dmesg_restrict', '1');
    try {
      const script = `const { withBackend } = await import(${JSON.stringify(distKernmod)});
        const km = withBackend(${JSON.stringify(km.backend)});
        const out = {};
        for (const kernelLog of [true, false]) {
          try {
            await km.loadModule(${JSON.stringify(m.hello)}, { kernelLog });
            out[kernelLog] = 'loaded';
          } catch (e) {
            out[kernelLog] = e.toJSON();
          }
        }
        console.log(JSON.stringify(out));`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        uid: 65534,
        gid: 65534,
        encoding: 'utf8',
        cwd: '/',
        timeout: 120_000,
      });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as Record<'true' | 'false', Record<string, unknown>>;
      expect(out.true).toMatchObject({ code: 'EPERM', kernelLogUnavailable: expect.stringMatching(/^EPERM: \/dev\/kmsg is not readable/) });
      expect(out.true.kernelLog).toBeUndefined();
      const { kernelLogUnavailable: _a, ...withCapture } = out.true;
      const { kernelLogUnavailable: _b, ...without } = out.false;
      expect(withCapture).toEqual(without);
    } finally {
      writeFileSync('/proc/sys/kernel/dmesg_restrict', restrict);
    }
    expect(procModule('kernmod_hello')).toBeUndefined();
  }, 300_000);
});

describe.skipIf(!existsSync(cli) || !debianModule('loop'))('the CLI shows the kernel line under the error', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });

  it('kernmod insmod loop max_loop=abc', () => {
    const r = run('insmod', debianModule('loop')!, 'max_loop=abc');
    expect(r.status).toBe(1);
    expect(r.stderr.split('\n').slice(0, 3)).toEqual([
      `insmod: ERROR: could not insert module ${debianModule('loop')}: Invalid parameters`,
      "  kernel: loop: `abc' invalid for parameter `max_loop'",
      "insmod: hint: invalid parameter value: 'abc' for parameter max_loop of loop (see modinfo -p loop for its type)",
    ]);
  }, 300_000);

  it.skipIf(!debianModule('dummy'))(
    'kernmod insmod --json dummy bogus_knob=1: loads, with the warning and the line',
    () => {
      const r = run('insmod', '--json', debianModule('dummy')!, 'bogus_knob=1');
      expect(r.status).toBe(0);
      const j = JSON.parse(r.stdout) as { result: { warnings: unknown[]; kernelLog: Array<{ message: string }> } };
      expect(j.result.warnings).toEqual([
        { kind: 'unknown-parameter', message: "dummy: unknown parameter 'bogus_knob' ignored", parameter: 'bogus_knob' },
      ]);
      expect(j.result.kernelLog.map((e) => e.message)).toContain("dummy: unknown parameter 'bogus_knob' ignored");
      kernelBackends()[0]!.km().unloadModuleSync('dummy');
    },
    300_000,
  );
});
