// The bundled CLI (scripts/bundle-cli.mjs, what `bin` points to) says and does what the CLI's sources
// say: each command's stdout, stderr and exit status are compared with main() run in-process. The
// bundle is built into a scratch package root laid out as the real one (dist/lib/cli/ three levels
// down, package.json, node_modules and build/ beside it), so the paths it finds from its own location
// (package.json, the native addons) are exercised, not assumed.
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../lib/cli/main.js';
import { buildElf, strings } from '../fixtures/elf-builder.js';
import { compiledLib } from './compiled-lib.js';

const root = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const scratch = mkdtempSync(join(tmpdir(), 'kernmod-bundle-'));
const bundle = join(scratch, 'dist/lib/cli/kernmod.cjs');
const files = mkdtempSync(join(tmpdir(), 'kernmod-bundle-files-'));

beforeAll(async () => {
  copyFileSync(join(root, 'package.json'), join(scratch, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'));
  if (existsSync(join(root, 'build'))) symlinkSync(join(root, 'build'), join(scratch, 'build'));
  const { bundleCli } = (await import(join(root, 'scripts/bundle-cli.mjs'))) as { bundleCli: (outfile: string) => Promise<void> };
  await bundleCli(bundle);
}, 120_000);

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  rmSync(files, { recursive: true, force: true });
});

/** stdout, stderr and status, with the scratch root named as the checkout (the addon's path). */
function runBundle(args: string[]) {
  const r = spawnSync(process.execPath, [bundle, ...args], { encoding: 'utf8', timeout: 60_000 });
  const unscratch = (s: string) => s.split(scratch).join(root);
  return { out: unscratch(r.stdout), err: unscratch(r.stderr), status: r.status };
}

async function runSources(args: string[]) {
  const o = { out: '', err: '' };
  const status = await main(args, { out: (s: string) => void (o.out += s), err: (s: string) => void (o.err += s) });
  return { ...o, status };
}

const moduleFile = join(files, 'startup_demo.ko');
writeFileSync(
  moduleFile,
  buildElf({
    class: 64,
    endian: 'little',
    sections: [
      {
        name: '.modinfo',
        data: strings('license=GPL', 'description=start-up demo', 'vermagic=6.1.0 SMP mod_unload', 'name=startup_demo', 'depends='),
      },
      { name: '.gnu.linkonce.this_module', data: new Uint8Array(0x400) },
    ],
  }),
);

describe('the bundled CLI', () => {
  it('is what package.json bin points to, and what the build writes', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
      scripts: Record<string, string>;
    };
    expect(pkg.bin.kernmod).toBe('dist/lib/cli/kernmod.cjs');
    expect(pkg.scripts['build:ts']).toMatch(/node scripts\/bundle-cli\.mjs/);
  });

  it.each([
    ['--help'],
    ['--version'],
    ['no-such-command'],
    ['modinfo', moduleFile],
    ['modinfo', '-F', 'vermagic', moduleFile],
    ['modinfo', '--json', moduleFile],
    ['modinfo', join(files, 'missing.ko')],
    ['insmod', join(files, 'missing.ko')],
    ['lsmod', '--help'],
    ['modprobe', '-D', '-d', join(files, 'no-tree'), 'anything'],
  ])('prints what the sources print: %s', { timeout: 60_000 }, async (...args: string[]) => {
    expect(runBundle(args)).toEqual(await runSources(args));
  });

  // What a command loads is part of its start-up (bench/startup.ts measures it): node:stream for a
  // write to stdout, node:zlib for a format the command never sees, the xz addon with no .xz to decode.
  it.each([
    [['--help'], ['stream', 'zlib'], false],
    [['modinfo', '-F', 'vermagic', moduleFile], ['stream', 'zlib'], false], // one file: nothing to read ahead on the pool
    [['modinfo', '-F', 'vermagic', moduleFile, moduleFile], ['zlib'], true], // more: the pool reads ahead
    [['modinfo', join(files, 'missing.ko')], ['zlib'], undefined],
    [['modprobe', '-D', '-d', join(files, 'no-tree'), 'anything'], ['zlib'], false],
  ])('%j loads none of %j (the xz addon: %s)', { timeout: 60_000 }, (args, builtins, addon) => {
    const loads = join(files, 'loads.json');
    const preload = join(files, 'loads.cjs');
    writeFileSync(
      preload,
      `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(loads)}, JSON.stringify({
        builtins: process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)),
        addons: Object.keys(require.cache).filter((f) => f.endsWith('.node')),
      })));`,
    );
    const r = spawnSync(process.execPath, ['-r', preload, bundle, ...args], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).not.toMatch(/at .*\.cjs:\d+/);
    const loaded = JSON.parse(readFileSync(loads, 'utf8')) as { builtins: string[]; addons: string[] };
    expect(builtins.filter((b) => loaded.builtins.includes(b))).toEqual([]);
    if (addon !== undefined) expect(loaded.addons.some((f) => f.endsWith('kernmod_xz.node'))).toBe(addon);
  });

  it('runs from its code cache, and as well without it or with one made from another bundle', { timeout: 120_000 }, async () => {
    const cache = bundle.replace(/\.cjs$/, '.bundle.v8cache');
    const made = readFileSync(cache);
    const args = ['modinfo', '-F', 'vermagic', moduleFile];
    const want = await runSources(args);
    try {
      expect(made.readUInt32LE(0)).toBe(readFileSync(bundle.replace(/\.cjs$/, '.bundle.cjs')).length);
      expect(runBundle(args)).toEqual(want);
      const other = Buffer.from(made);
      other[4 + 100]! ^= 1; // its copy of the bundle differs in one byte: V8's data is not for this bundle
      writeFileSync(cache, other);
      expect(runBundle(args)).toEqual(want);
      writeFileSync(cache, made.subarray(0, 10)); // truncated
      expect(runBundle(args)).toEqual(want);
      rmSync(cache);
      expect(runBundle(args)).toEqual(want);
    } finally {
      writeFileSync(cache, made);
    }
  });

  // The CLI writes with write(2) as kmod does, not through a stream: a full non-blocking pipe (EAGAIN)
  // is waited for, and nothing is lost.
  it('writes all of its output to a non-blocking pipe that fills up', { timeout: 120_000 }, async () => {
    const fifo = join(files, 'out.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    const make = 'Array.from({ length: 20000 }, (_, i) => "line " + i + "\\n").join("")'; // > 64 KiB, a pipe's buffer
    const text = Array.from({ length: 20000 }, (_, i) => `line ${i}\n`).join(''); // what `make` makes
    const script = `import(${JSON.stringify(`${compiledLib()}/lib/cli/output.js`)}).then(({ processIo }) => processIo.out(${make}))`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', writer, 'pipe'] });
    closeSync(writer);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the child fills the pipe and waits
    const chunks: Buffer[] = [];
    const buf = Buffer.alloc(1 << 16);
    for (;;) {
      let n = 0;
      try {
        n = readSync(reader, buf);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      if (n === 0) break; // end of file: the child closed its end
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    closeSync(reader);
    expect({ status: await exited, err }).toEqual({ status: 0, err: '' });
    expect(Buffer.concat(chunks).toString()).toBe(text);
  });

  it('finds the native addon the sources find (doctor --json names it)', async () => {
    const bundled = JSON.parse(runBundle(['doctor', '--json']).out) as { backend: unknown };
    const sources = JSON.parse((await runSources(['doctor', '--json'])).out) as { backend: unknown };
    expect(bundled.backend).toEqual(sources.backend);
  });
});
