// `kernmod modprobe`: kmod's lines, messages and exit codes, hint lines and --json, driven through the
// FAKE kernel (a simulation of the syscalls; the kernel suite runs modprobe against real kernels).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFakeBackend, FakeKernel } from '../../lib/backend/fake.js';
import { main, reportFailure } from '../../lib/cli/main.js';
import { joinModprobeParams, modprobeCommand, unavailableKernmod } from '../../lib/cli/modprobe.js';
import { KernmodError } from '../../lib/errors.js';
import { bind, type Kernmod } from '../../lib/kernmod.js';
import { tempDir, withSysfs, writeTree } from './modprobe-helpers.js';

/** An index with no keys, as depmod writes it: a header whose root offset is the file size. */
const EMPTY_INDEX = Buffer.from([0xb0, 0x07, 0xf4, 0x57, 0, 2, 0, 1, 0, 0, 0, 12]);

function setup(conf = '') {
  const root = tempDir('cli');
  const dir = writeTree(join(root, 'lib/modules/2.0-cli'), {
    modules: { t: { deps: ['a'], aliases: ['thing-t'] }, a: {}, b: {}, broken: { deps: ['a'] } },
    builtin: ['bi'],
  });
  writeFileSync(join(dir, 'kernel/broken.ko'), 'not a module');
  const confDir = join(root, 'conf');
  mkdirSync(confDir);
  writeFileSync(join(confDir, 'c.conf'), conf);
  const kernel = new FakeKernel();
  const km: Kernmod = withSysfs(bind(createFakeBackend(kernel)), kernel, root);
  const run = async (...argv: string[]) => {
    const o = { out: '', err: '' };
    const status = await modprobeCommand(
      ['-d', root, '-S', '2.0-cli', '-C', confDir, ...argv],
      km,
      { out: (s) => void (o.out += s), err: (s) => void (o.err += s) },
      { cmdline: false, sysRoot: root },
    );
    return { status, ...o };
  };
  return { run, kernel, dir, root };
}

describe('kernmod modprobe', () => {
  it('loads silently and exits 0; -v prints the insmod lines first', async () => {
    const s = setup('options t x=1\n');
    expect(await s.run('t', 'y=a b')).toEqual({ status: 0, out: '', err: '' });
    expect(s.kernel.modules.get('t')?.params).toBe('x=1 y="a b"');
    const v = setup();
    expect(await v.run('-v', 't')).toEqual({ status: 0, out: `insmod ${v.dir}/kernel/a.ko \ninsmod ${v.dir}/kernel/t.ko \n`, err: '' });
    // already loaded: nothing to print, nothing to do
    expect(await v.run('-v', 't')).toEqual({ status: 0, out: '', err: '' });
  });

  it('--show-depends and -n never make a system call', async () => {
    const km = unavailableKernmod(new Error('no backend here'));
    const s = setup();
    const out = { s: '' };
    const status = await modprobeCommand(
      ['-d', s.root, '-S', '2.0-cli', '-D', 'thing-t'],
      km,
      { out: (x) => void (out.s += x), err: () => {} },
      { cmdline: false },
    );
    expect(status).toBe(0);
    expect(out.s).toBe(`insmod ${s.dir}/kernel/a.ko \ninsmod ${s.dir}/kernel/t.ko \n`);
    expect(await s.run('-n', 't')).toEqual({ status: 0, out: '', err: '' });
    expect(s.kernel.calls).toEqual([]);
  });

  it("prints kmod's FATAL for an unknown module (WARNING and go on with -a), silent with -q", async () => {
    const s = setup();
    expect(await s.run('nope')).toEqual({
      status: 1,
      out: '',
      err: `modprobe: FATAL: Module nope not found in directory ${s.root}/lib/modules/2.0-cli\n`,
    });
    expect(await s.run('-q', 'nope')).toEqual({ status: 1, out: '', err: '' });
    const a = await s.run('-a', 'nope', 'b');
    expect(a.status).toBe(1);
    expect(a.err).toBe(`modprobe: WARNING: Module nope not found in directory ${s.root}/lib/modules/2.0-cli\n`);
    expect(s.kernel.modules.has('b')).toBe(true);
  });

  it("a failed load: kmod's 'could not insert' line naming the module asked for, then a hint naming the culprit", async () => {
    const s = setup('alias pick broken\n');
    const r = await s.run('broken');
    expect(r.status).toBe(1);
    expect(r.err.split('\n')[0]).toBe("modprobe: ERROR: could not insert 'broken': Exec format error");
    expect(r.err.split('\n')[1]).toMatch(/^modprobe: hint: invalid module format/);
    // --first-time on a loaded module
    await s.run('b');
    expect(await s.run('--first-time', 'b')).toMatchObject({
      status: 1,
      err:
        "modprobe: ERROR: could not insert 'b': Module already in kernel\nmodprobe: hint: the module is " +
        'already in the kernel, and --first-time asks to fail then\n',
    });
    expect((await s.run('--first-time', '-n', 'b')).status).toBe(1);
  });

  it('install command failures say what kmod says', async () => {
    const s = setup('install b exit 4\n');
    const r = await s.run('b');
    expect(r.status).toBe(1);
    expect(r.err).toBe(
      "modprobe: ERROR: Error running install command 'exit 4' for module b: retcode 4\n" +
        "modprobe: ERROR: could not insert 'b': Invalid argument\nmodprobe: hint: the install command from modprobe.d failed; " +
        'kmod runs it with /bin/sh -c\n',
    );
  });

  it('blacklisted aliases exit 0 silently; bad config lines are reported with file and line', async () => {
    const s = setup('blacklist t\nfrob x\n');
    const r = await s.run('thing-t');
    expect(r).toMatchObject({ status: 0, out: '' });
    expect(r.err).toMatch(/^modprobe: ERROR: .*\/conf\/c\.conf line 2: ignoring bad line starting with 'frob'\n$/);
    expect(s.kernel.calls).toEqual([]);
  });

  it('-r removes the module and its unused dependencies; in use, builtin, unknown are FATAL', async () => {
    const s = setup();
    await s.run('t');
    expect(await s.run('-r', '-v', 'a')).toMatchObject({
      status: 1,
      err: expect.stringMatching(/^modprobe: FATAL: Module a is in use\.\nmodprobe: hint: it is used by t/),
    });
    expect(await s.run('-r', '-v', 't')).toEqual({ status: 0, out: 'rmmod t\nrmmod a\n', err: '' });
    expect(s.kernel.modules.size).toBe(0);
    expect(await s.run('-r', 'bi')).toMatchObject({ status: 1, err: expect.stringMatching(/^modprobe: FATAL: Module bi is builtin\.\n/) });
    expect(await s.run('-r', 'nope')).toMatchObject({
      status: 1,
      err: expect.stringMatching(/^modprobe: FATAL: Module nope not found\.\n/),
    });
    expect(await s.run('-r', 'b')).toEqual({ status: 0, out: '', err: '' }); // not loaded: nothing to do
    await s.run('t');
    expect(await s.run('-r', '--remove-holders', 'a')).toMatchObject({ status: 0 });
    expect(s.kernel.modules.size).toBe(0);
  });

  it('--json prints plans and results; -R prints module names; -w must be a number', async () => {
    const s = setup();
    const d = await s.run('--json', '-D', 't');
    expect(JSON.parse(d.out)).toMatchObject({
      ok: true,
      results: [
        {
          query: 't',
          ignoreLoaded: true,
          modules: [
            {
              module: 't',
              status: 'ok',
              steps: [
                { module: 'a', action: 'insmod' },
                { module: 't', action: 'insmod', role: 'target' },
              ],
            },
          ],
        },
      ],
    });
    const p = await s.run('--json', 'broken');
    expect(p.status).toBe(1);
    expect(JSON.parse(p.out)).toMatchObject({ ok: false, results: [{ ok: false, error: { code: 'ENOEXEC', module: 'broken' } }] });
    expect(await s.run('-R', 'thing-t')).toEqual({ status: 0, out: 't\n', err: '' });
    expect(await s.run('-r', '-w', 'soon', 't')).toEqual({ status: 1, out: '', err: "modprobe: ERROR: unexpected wait value 'soon'.\n" });
    expect(await s.run()).toEqual({ status: 1, out: '', err: 'modprobe: ERROR: missing parameters. See -h.\n' });
  });

  it('reads the empty indexes depmod writes (0 bytes, header only) and says not found', async () => {
    const s = setup();
    writeFileSync(join(s.dir, 'modules.builtin.bin'), Buffer.alloc(0));
    writeFileSync(join(s.dir, 'modules.symbols.bin'), EMPTY_INDEX);
    expect(await s.run('nope')).toEqual({
      status: 1,
      out: '',
      err: `modprobe: FATAL: Module nope not found in directory ${s.root}/lib/modules/2.0-cli\n`,
    });
    expect(await s.run('-R', 'bi')).toMatchObject({ status: 1 });
  });

  it('a damaged index is one FATAL line and a hint for every query, never a stack trace', async () => {
    const s = setup();
    const bad = Buffer.from(EMPTY_INDEX);
    bad.writeUInt32BE((0x40000000 | 200) >>> 0, 8); // root node past the end
    writeFileSync(join(s.dir, 'modules.alias.bin'), bad);
    for (const argv of [['thing-t'], ['-R', 'thing-t'], ['-D', 'thing-x'], ['-c'], ['-a', 'thing-t', 'b'], ['-r', 'thing-t']]) {
      const r = await s.run(...argv);
      expect(r.status).toBe(1);
      expect(r.err).toMatch(
        /^modprobe: (FATAL|ERROR): .*modules\.alias\.bin: node offset 200 past the end.*\nmodprobe: hint: .*depmod.*\n$/,
      );
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });

  it('a damaged index under --json (or --jso, a unique prefix) is the JSON error; under -q (or -qv) no FATAL line', async () => {
    const s = setup();
    const bad = Buffer.from(EMPTY_INDEX);
    bad.writeUInt32BE((0x40000000 | 200) >>> 0, 8); // root node past the end
    writeFileSync(join(s.dir, 'modules.alias.bin'), bad);
    for (const flag of ['--json', '--jso']) {
      const r = await s.run(flag, '-R', 'thing-t');
      expect(r.status).toBe(1);
      expect(r.err).toBe('');
      expect(JSON.parse(r.out)).toMatchObject({ ok: false, error: { code: 'ERR_KERNMOD_BAD_INDEX' } });
    }
    for (const flag of ['-q', '-qv', '--qui']) expect(await s.run(flag, '-R', 'thing-t')).toEqual({ status: 1, out: '', err: '' });
  });

  it('top level: any error a command throws is one kmod-style line and exit 1 (the stack stays in)', async () => {
    const e = { out: '', err: '' };
    const io = { out: (x: string) => void (e.out += x), err: (x: string) => void (e.err += x) };
    expect(reportFailure('modprobe', new TypeError("Cannot read properties of undefined (reading 'x')"), io)).toBe(1);
    expect(e.err).toBe("modprobe: ERROR: Cannot read properties of undefined (reading 'x')\n");
    e.err = '';
    reportFailure(
      'insmod',
      new KernmodError({ code: 'EPERM', phase: 'load', message: 'EPERM: operation not permitted', hint: 'run as root' }),
      io,
    );
    expect(e.err).toBe('insmod: ERROR: EPERM: operation not permitted\ninsmod: hint: run as root\n');
    e.err = '';
    reportFailure(undefined, 'a string', io);
    expect(e.err).toBe('kernmod: ERROR: a string\n');
    // Through main(): a damaged index under `kernmod modprobe`.
    const s = setup();
    writeFileSync(join(s.dir, 'modules.dep.bin'), Buffer.from('not an index at all'));
    const m = { out: '', err: '' };
    const status = await main(['modprobe', '-d', s.root, '-S', '2.0-cli', '-R', 't'], {
      out: (x) => void (m.out += x),
      err: (x) => void (m.err += x),
    });
    expect(status).toBe(1);
    expect(m.err).toMatch(/^modprobe: FATAL: .*modules\.dep\.bin: bad magic/);
    expect(m.err).not.toMatch(/\n\s+at /);
  });

  it('bad PARAMS are one FATAL line with nothing loaded; -D still shows them as kmod would pass them', async () => {
    const s = setup();
    const r = await s.run('t', 'a$(touch', 'x)');
    expect(r).toMatchObject({ status: 1, out: '' });
    expect(r.err).toMatch(/^modprobe: FATAL: invalid parameter name "a\$\(touch"/);
    expect(s.kernel.calls).toEqual([]);
    expect((await s.run('-D', 't', "baz='x y'")).out).toBe(`insmod ${s.dir}/kernel/a.ko \ninsmod ${s.dir}/kernel/t.ko baz='x y'\n`);
  });

  it("joins PARAMS as kmod's options_from_array does", () => {
    expect(joinModprobeParams([])).toBeUndefined();
    expect(joinModprobeParams(['a=1', 'b=x y', 'c="q r"', "d='s t'", 'flag', 'e=tab\there'])).toBe(
      'a=1 b="x y" c="q r" d=\'s t\' flag e=tab\there',
    );
  });
});
