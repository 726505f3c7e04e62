// Issue #16: files another person may have written — modprobe.d and depmod.d entries, module directory
// index files, modload's -m property list, the fake NetBSD kernel's module files — are opened without
// blocking and read only when they are regular files. A FIFO among them used to block its reader in
// open(2) forever, so each case runs in a child process with a time limit: a hang fails it, not the suite.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compiledLib } from './compiled-lib.js';

const dir = mkdtempSync(join(tmpdir(), 'kernmod-hardening-cfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fifo = (path: string) => execFileSync('mkfifo', [path]);

/** Runs an ES module body (with `lib` bound to the compiled lib/ directory) in a child; its JSON output, or 'hung'. */
function isolated(body: string): unknown {
  const lib = compiledLib();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `const lib = ${JSON.stringify(lib + '/lib')};\n${body}`], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  if (r.error || r.status === null) return 'hung';
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('configuration and index files: a FIFO is skipped, never waited on', () => {
  it('depmod.d: a FIFO named *.conf is an error line, and the other files still count', () => {
    const d = join(dir, 'depmod.d');
    mkdirSync(d);
    fifo(join(d, 'a.conf'));
    writeFileSync(join(d, 'b.conf'), 'search extra built-in\n');
    const out = isolated(`
      const { loadConfig } = await import(lib + '/depmod/config.js');
      const log = [];
      const cfg = loadConfig([${JSON.stringify(d)}], '6.1.0', log);
      console.log(JSON.stringify({ searches: cfg.searches, log }));`);
    expect(out).toEqual({
      searches: [{ type: 'built-in' }, { type: 'path', path: 'extra' }],
      log: [{ level: 'ERROR', text: expect.stringMatching(/^file parse .*a\.conf: .*not a regular file\n$/) }],
    });
  }, 60_000);

  it('modprobe.d: a FIFO named *.conf is left out (sync and async), the other files still count', () => {
    const d = join(dir, 'modprobe.d');
    mkdirSync(d);
    fifo(join(d, 'a.conf'));
    writeFileSync(join(d, 'b.conf'), 'alias hardening_alias hardening_mod\n');
    const out = isolated(`
      const { loadConfig, loadConfigSync } = await import(lib + '/modprobe/config-files.js');
      const sync = loadConfigSync({ paths: [${JSON.stringify(d)}], cmdline: false });
      const async = await loadConfig({ paths: [${JSON.stringify(d)}], cmdline: false });
      console.log(JSON.stringify([sync.aliases.length, async.aliases.length]));`);
    expect(out).toEqual([1, 1]);
  }, 60_000);

  it('a module directory whose index files are FIFOs reads them as missing (the text file is the fallback)', () => {
    const d = join(dir, 'moddir');
    mkdirSync(d);
    fifo(join(d, 'modules.dep.bin'));
    fifo(join(d, 'modules.builtin.modinfo'));
    writeFileSync(join(d, 'modules.dep'), 'kernel/a.ko: kernel/b.ko\nkernel/b.ko:\n');
    const out = isolated(`
      const { ModuleDirectory } = await import(lib + '/modprobe/moddir.js');
      const sync = ModuleDirectory.openSync(${JSON.stringify(d)});
      const async = await ModuleDirectory.open(${JSON.stringify(d)});
      console.log(JSON.stringify([sync.dep('a')?.deps.length, async.dep('a')?.deps.length, sync.builtinModinfo('x') ?? null]));`);
    expect(out).toEqual([1, 1, null]);
  }, 60_000);

  it("modload -p -m FIFO fails with modload's message", () => {
    const f = join(dir, 'props.plist');
    fifo(f);
    const out = isolated(`
      const { modloadCommand } = await import(lib + '/cli/modload.js');
      const { createFakeNetbsdBackend, FakeNetbsdKernel } = await import(lib + '/netbsd/fake.js');
      const { bind } = await import(lib + '/netbsd/index.js');
      let err = '';
      const io = { out: () => {}, err: (s) => void (err += s) };
      const netbsd = bind(createFakeNetbsdBackend(new FakeNetbsdKernel()));
      const code = await modloadCommand(['-p', '-m', ${JSON.stringify(f)}], io, { netbsd });
      console.log(JSON.stringify({ code, err }));`);
    expect(out).toEqual({ code: 1, err: 'modload: Failed to read existing property list\n' });
  }, 60_000);

  it('the fake NetBSD kernel refuses a FIFO module (EINVAL) and ignores a FIFO .plist', () => {
    const d = join(dir, 'stand');
    mkdirSync(join(d, 'okmod'), { recursive: true });
    fifo(join(d, 'pipe.kmod'));
    fifo(join(d, 'okmod/okmod.plist'));
    const out = isolated(`
      const { writeFileSync } = await import('node:fs');
      const { createFakeNetbsdBackend, FakeNetbsdKernel } = await import(lib + '/netbsd/fake.js');
      const { bind } = await import(lib + '/netbsd/index.js');
      writeFileSync(${JSON.stringify(join(d, 'okmod/okmod.kmod'))}, FakeNetbsdKernel.image({ name: 'okmod' }));
      const nb = bind(createFakeNetbsdBackend(new FakeNetbsdKernel({ modulePath: ${JSON.stringify(d)} })));
      const bad = await nb.loadModule(${JSON.stringify(join(d, 'pipe.kmod'))}).then(() => 'loaded', (e) => e.code);
      const ok = await nb.loadModule('okmod').then((r) => r.module, (e) => e.code);
      console.log(JSON.stringify({ bad, ok }));`);
    expect(out).toEqual({ bad: 'EINVAL', ok: 'okmod' });
  }, 60_000);
});

describe('the other files named by a user or a tree: a FIFO is a typed error, never waited on', () => {
  it('depmod: a FIFO modules.order is the warning kmod gives for a missing one, and the indexes are written', () => {
    const tree = join(dir, 'depmod-base', 'lib', 'modules', '9.9.9');
    mkdirSync(tree, { recursive: true });
    fifo(join(tree, 'modules.order'));
    const out = isolated(`
      const { depmodSync } = await import(lib + '/depmod/depmod.js');
      const r = depmodSync({ basedir: ${JSON.stringify(join(dir, 'depmod-base'))}, kernelVersion: '9.9.9', config: [] });
      console.log(JSON.stringify((r.messages ?? []).map((m) => m.text)));`) as string[];
    expect(out.some((t) => /could not open modules\.order .*not a regular file/.test(t))).toBe(true);
  }, 60_000);

  it('kernmod apply FIFO: one error line, exit 1', () => {
    const f = join(dir, 'spec.yaml');
    fifo(f);
    const out = isolated(`
      const { applyCommand } = await import(lib + '/cli/apply.js');
      let err = '';
      const io = { out: () => {}, err: (s) => void (err += s) };
      const code = await applyCommand([${JSON.stringify(f)}], io);
      console.log(JSON.stringify({ code, err }));`) as { code: number; err: string };
    expect(out.code).toBe(1);
    expect(out.err).toMatch(/not a regular file/);
  }, 60_000);
});
