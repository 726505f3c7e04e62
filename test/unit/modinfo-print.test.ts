// `kernmod modinfo` prints the same with and without the pool decoding .ko.xz ahead, from the sources
// and from the compiled copy the CLI runs: stdout, stderr (and how the two interleave), exit status,
// --json — over module files, names, aliases, builtins and failures. Also: the printer's ordering rules.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ModinfoPrinter, printModinfo, type PrintOptions } from '../../lib/cli/modinfo/print.js';
import type { ModinfoSettings } from '../../lib/cli/modinfo/run.js';
import { buildElf, strings } from '../fixtures/elf-builder.js';
import { compiledLib } from './compiled-lib.js';
import { tempDir, writeTree } from './modprobe-helpers.js';

/** Everything written, in order, as [stream, text] pairs (adjacent writes to one stream merged). */
type Transcript = Array<['out' | 'err', string]>;

function recorder() {
  const t: Transcript = [];
  const write = (stream: 'out' | 'err') => (s: string) => {
    const last = t[t.length - 1];
    if (last && last[0] === stream) last[1] += s;
    else t.push([stream, s]);
  };
  return { t, io: { out: write('out'), err: write('err') } };
}

describe('ModinfoPrinter', () => {
  it('flushes stdout before every error, in the order written', () => {
    const { t, io } = recorder();
    const p = new ModinfoPrinter(io, false);
    p.out('a1\n');
    p.err('E1\n');
    p.out('a2\n');
    p.out('b1\n');
    p.fail();
    p.err('');
    p.err('E2\n');
    p.out('c1\n');
    p.finish();
    expect(t).toEqual([
      ['out', 'a1\n'],
      ['err', 'E1\n'],
      ['out', 'a2\nb1\n'],
      ['err', 'E2\n'],
      ['out', 'c1\n'],
    ]);
    expect(p.status).toBe(1);
  });

  it('prints --json items as JSON.stringify(value, null, 2) would: one object, or an array', () => {
    const values = [{ a: 1, b: [1, { c: 'x\ny' }], e: [], o: {} }, { z: null }, 'text'];
    for (const n of [1, 2, 3]) {
      const { t, io } = recorder();
      const p = new ModinfoPrinter(io, true);
      for (const v of values.slice(0, n)) p.item(v);
      p.finish();
      expect(t).toEqual([['out', `${JSON.stringify(n === 1 ? values[0] : values.slice(0, n), null, 2)}\n`]]);
    }
  });
});

// ---- the same output with and without the pool, from the sources and compiled ------------------------

const dir = tempDir('modinfo-par');
const elf = (name: string, ...items: string[]) => {
  const f = join(dir, `${name}.ko`);
  writeFileSync(f, buildElf({ class: 64, endian: 'little', sections: [{ name: '.modinfo', data: strings(...items) }] }));
  return f;
};
const files = [
  elf('plain', 'name=plain', 'license=GPL', 'description=a module', 'parm=debug:Debug level', 'parmtype=debug:int', 'alias=plain-thing'),
  elf('badparm', 'name=badparm', 'parm=nocolon', 'parmtype=x:bool', 'a_much_longer_key_than_twenty=x'),
  elf('noname', 'license=MIT'),
];
writeFileSync(join(dir, 'notelf.ko'), 'hello\n');
writeFileSync(join(dir, 'fake.ko.xz'), 'hello\n');
files.push(join(dir, 'notelf.ko'), join(dir, 'fake.ko.xz'), join(dir, 'missing.ko'));
mkdirSync(join(dir, 'adir.ko'));
files.push(join(dir, 'adir.ko'));
// A module tree for names, aliases and builtins (-b/-k), and relative paths against the cwd.
const tree = join(dir, 'root');
writeTree(join(tree, 'lib/modules/9.9.9'), {
  bin: true,
  modules: { t: { aliases: ['thing-t'] }, u: { aliases: ['thing-t'] } },
  builtin: ['bi'],
  builtinModinfo: [['bi', 'license', 'GPL']],
});
const names = ['t', 'thing-t', 'bi', 'nosuch', 'u'];
// Real modules where this host has them: plain .ko, signed, .ko.xz, .ko.zst (our test modules).
const real: string[] = [];
for (const r of existsSync('/lib/modules') ? readdirSync('/lib/modules') : []) {
  const d = `/lib/modules/${r}/kernel/fs`;
  if (existsSync(d))
    real.push(
      ...readdirSync(d, { recursive: true, encoding: 'utf8' })
        .filter((f) => /\.ko(\.xz)?$/.test(f))
        .slice(0, 12)
        .map((f) => `${d}/${f}`),
    );
  const m = `${new URL('../../.cache/test-modules/', import.meta.url).pathname}${r}/manifest.json`;
  if (existsSync(m)) real.push(...Object.values((JSON.parse(readFileSync(m, 'utf8')) as { modules: Record<string, string> }).modules));
}
const args = [...files, ...names, ...real, relative(process.cwd(), files[0]!), 'thing-t', ...real.slice(0, 5)];

const lib = compiledLib();
const compiled = (await import(pathToFileURL(join(lib, 'lib/cli/modinfo/print.js')).href)) as { printModinfo: typeof printModinfo };

async function run(settings: ModinfoSettings, opts: PrintOptions, use = compiled.printModinfo) {
  const { t, io } = recorder();
  const status = await use(args, { root: tree, release: '9.9.9', ...settings }, io, opts);
  return { t, status };
}

const variants: Array<[string, Omit<ModinfoSettings, 'root' | 'release'>]> = [
  ['full listing', { nul: false, modname: false, json: false }],
  ['-F parm', { nul: false, modname: false, json: false, field: 'parm' }],
  ['-0 -F alias', { nul: true, modname: false, json: false, field: 'alias' }],
  ['-n', { nul: false, modname: false, json: false, field: 'filename' }],
  ['-m', { nul: false, modname: true, json: false }],
  ['--json', { nul: false, modname: false, json: true }],
];

describe('kernmod modinfo with and without the pool', () => {
  for (const [what, settings] of variants) {
    it(`prints the same (${what}, ${args.length} arguments)`, async () => {
      const one = await run(settings, { decodeAhead: 0 });
      expect(one.t.some(([s]) => s === 'err') || settings.json).toBe(true); // the failures are in there
      for (const decodeAhead of [1, 3]) expect(await run(settings, { decodeAhead })).toEqual(one);
      // The sources (what the other tests exercise) agree with the compiled copy.
      expect(await run(settings, { decodeAhead: 0 }, printModinfo)).toEqual(one);
    }, 60_000);
  }
});
