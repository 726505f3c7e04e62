// `kernmod modinfo` against kmod's own modinfo on this machine: stdout, stderr and exit code must be
// byte-identical — on samples of the installed module trees (signed plain .ko, .ko.xz signed before
// compression), by name, alias and builtin (-k), on a hand-made tree for the lookup's corners, with
// -F/-0 variants, on our own test modules (signed, forged vermagic, compressed) and on hand-built ELF
// files with odd .modinfo strings. Everything skips cleanly where kmod or a tree is missing. (Debian's
// kmod 30 is built -ZLIB: .ko.gz is left out.)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modinfoCommand } from '../../lib/cli/modinfo/index.js';
import { buildElf, strings } from '../fixtures/elf-builder.js';
import { tempDir, writeIndex, writeTree } from './modprobe-helpers.js';

const KMOD = ['/usr/sbin/modinfo', '/sbin/modinfo', '/usr/bin/modinfo', '/bin/modinfo'].find((p) => existsSync(p));
const kmodVersion = KMOD ? spawnSync(KMOD, ['-V'], { encoding: 'utf8' }).stdout : '';
// Our default output follows kmod 30 (no build-id line); newer kmod prints build-id.
const comparable = /kmod version (2[6-9]|30)\b/.test(kmodVersion);

function kmod(args: string[]) {
  const r = spawnSync(KMOD!, args, { maxBuffer: 512 << 20, argv0: 'modinfo' }); // glibc's getopt lines name argv[0]
  return { out: r.stdout, err: r.stderr.toString(), code: r.status };
}

async function ours(args: string[]) {
  let out = '';
  let err = '';
  const code = await modinfoCommand(args, { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { out: Buffer.from(out, 'utf8'), err, code };
}

async function same(args: string[]) {
  const k = kmod(args);
  const o = await ours(args);
  // Compare as text first for a readable diff, then as bytes.
  expect(o.out.toString('latin1')).toBe(k.out.toString('latin1'));
  expect(o.out.equals(k.out)).toBe(true);
  expect(o.err).toBe(k.err);
  expect(o.code).toBe(k.code);
}

/** Deterministic sample: every n-th module of modules.dep plus well-known modules with many parms/aliases. */
function sample(dir: string, count: number): string[] {
  const dep = readFileSync(join(dir, 'modules.dep'), 'utf8')
    .split('\n')
    .map((l) => l.slice(0, l.indexOf(':')))
    .filter(Boolean);
  const step = Math.max(1, Math.floor(dep.length / count));
  const picked = dep.filter((_, i) => i % step === 0).slice(0, count);
  const famous = ['snd-hda-intel', 'e1000e', 'usb-storage', 'loop', 'bluetooth', 'kvm', 'i915', 'nouveau', 'btusb', 'iwlwifi'];
  for (const f of famous) {
    const hit = dep.find((p) => p.slice(p.lastIndexOf('/') + 1).split('.')[0] === f);
    if (hit && !picked.includes(hit)) picked.push(hit);
  }
  return picked.map((p) => (p.startsWith('/') ? p : join(dir, p)));
}

const trees = existsSync('/lib/modules')
  ? readdirSync('/lib/modules')
      .map((r) => ({ release: r, dir: `/lib/modules/${r}` }))
      .filter((t) => existsSync(join(t.dir, 'modules.dep')))
  : [];

describe.skipIf(!KMOD || !comparable)('byte-identical to kmod modinfo', () => {
  for (const t of trees) {
    describe(t.release, () => {
      const files = sample(t.dir, 50);
      it(`prints the same for ${files.length} module files`, async () => {
        await same(files);
      }, 60_000);

      it('prints the same with -F parm, -p -0, -F alias, -n, -F signature, -0, -a -d', async () => {
        for (const opts of [
          ['-F', 'parm'],
          ['-p', '-0'],
          ['-F', 'alias'],
          ['-n'],
          ['-F', 'signature'],
          ['-0'],
          ['-a', '-d'],
          ['-F', 'sig_key', '-0'],
        ]) {
          await same([...opts, ...files.slice(0, 20)]);
        }
      }, 60_000);

      it('resolves names, aliases, symbols and builtins like kmod (-k), errors included', async () => {
        const alias = readFileSync(join(t.dir, 'modules.alias'), 'utf8')
          .split('\n')
          .filter((l) => l.startsWith('alias '))
          .filter((_, i) => i % 997 === 0)
          .map((l) =>
            l
              .split(' ')[1]!
              .replace(/\*/g, 'X')
              .replace(/\?/g, 'Y')
              .replace(/\[[^\]]*\]/g, 'Z'),
          );
        const builtins = existsSync(join(t.dir, 'modules.builtin'))
          ? readFileSync(join(t.dir, 'modules.builtin'), 'utf8')
              .split('\n')
              .filter(Boolean)
              .filter((_, i) => i % 9 === 0)
              .map((p) => p.slice(p.lastIndexOf('/') + 1).replace(/\.ko.*$/, ''))
          : [];
        const names = files.slice(0, 10).map((f) => f.slice(f.lastIndexOf('/') + 1).replace(/\.ko.*$/, ''));
        await same(['-k', t.release, ...names, ...alias, ...builtins, 'nosuch-module', 'loop']);
        await same(['-k', t.release, '-F', 'name', ...builtins.slice(0, 5)]);
        await same(['-k', t.release, '-m', 'loop', 'devname:loop-control']);
        await same(['-b', '/', '-k', t.release, '-n', 'loop']);
      }, 60_000);
    });
  }

  it('resolves like kmod in a hand-made tree: stale aliases, repeated matches, bad aliases, -m through built-in aliases', async () => {
    const root = tempDir('modinfo');
    const dir = join(root, 'lib/modules/9.9.9');
    writeTree(dir, {
      bin: true,
      modules: { t: { aliases: ['thing-t'] }, u: {} },
      builtin: ['bi'],
      builtinModinfo: [
        ['bi', 'license', 'GPL'],
        ['bi', 'alias', 'fs-bi'],
        ['bj', 'license', 'MIT'],
      ],
    });
    // ghost is in no index; bj has .modinfo strings but is not in modules.builtin; multi-x matches t twice.
    const aliases = [
      ['thing_t', 't'],
      ['ghost_dev', 'ghost'],
      ['ghost_bj', 'bj'],
      ['multi_*', 't'],
      ['multi_x', 'u'],
      ['multi_x', 't'],
    ];
    writeFileSync(
      join(dir, 'modules.alias.bin'),
      writeIndex(aliases.map(([key, value], priority) => ({ key: key!, value: value!, priority }))),
    );
    writeFileSync(join(dir, 'modules.builtin.alias.bin'), writeIndex([{ key: 'fs_bi', value: 'bi' }]));
    const at = ['-b', root, '-k', '9.9.9'];
    await same([...at, 'ghost-dev', 'ghost-bj', 'fs-bi', 'bi', 'bad]', 'bad[']);
    await same([...at, '-n', 'thing-t', 'multi-x']);
    await same([...at, '-m', 'fs-bi', 'ghost-dev', 'thing-t']);
    await same([...at, '-m', '-n', 't.ko']);
    // A relative -b: kmod makes the module directory absolute against the working directory.
    await same(['-b', relative(process.cwd(), root), '-k', '9.9.9', '-n', 'thing-t']);
  });

  const cache = new URL('../../.cache/test-modules/', import.meta.url).pathname;
  const sets = existsSync(cache) ? readdirSync(cache).filter((r) => existsSync(`${cache}${r}/manifest.json`)) : [];
  for (const r of sets) {
    it(`prints the same for our test modules (${r}): signed, forged, params, .xz, .zst`, async () => {
      const m = JSON.parse(readFileSync(`${cache}${r}/manifest.json`, 'utf8')) as { modules: Record<string, string> };
      const paths = Object.entries(m.modules)
        .filter(([k]) => k !== 'helloGz')
        .map(([, p]) => p);
      await same(paths);
      await same(['-F', 'signer', '-F', 'vermagic', ...paths]);
      await same(['-p', ...paths]);
    });
  }

  it('prints the same for odd .modinfo strings: long keys, no "=", empty values, parm without ":"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kernmod-modinfo-'));
    const file = join(dir, 'odd-name.ko');
    writeFileSync(
      file,
      buildElf({
        class: 64,
        endian: 'little',
        sections: [
          {
            name: '.modinfo',
            data: strings(
              'a_key_of_exactly15',
              'k15_abcdefghijk=fifteen',
              'key_sixteen_chars=16',
              'a_much_longer_key_than_twenty=x',
              'empty=',
              '=novalue',
              'parm=nocolon',
              'parmtype=t:int',
              'parm=d:',
              'parm=x:y:z',
              'name=odd_name',
            ),
          },
        ],
      }),
    );
    await same([file]);
    await same(['-p', file]);
    await same(['-0', file]);
    await same(['-F', 'empty', file]);
  });

  it('fails like kmod on unreadable, truncated and non-ELF files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kernmod-modinfo-'));
    const notElf = join(dir, 'notelf.ko');
    writeFileSync(notElf, 'hello\n');
    const fakeXz = join(dir, 'fake.ko.xz');
    writeFileSync(fakeXz, 'hello\n');
    const noModinfo = join(dir, 'nomodinfo.ko');
    writeFileSync(noModinfo, buildElf({ class: 64, endian: 'little', sections: [{ name: '.text', data: new Uint8Array(8) }] }));
    // Not regular files, though named like modules (kmod then looks them up as names), and an empty one.
    const fifo = join(dir, 'pipe.ko');
    spawnSync('mkfifo', [fifo]);
    mkdirSync(join(dir, 'dir.ko'));
    symlinkSync('/dev/null', join(dir, 'null.ko'));
    symlinkSync('nowhere', join(dir, 'dangling.ko'));
    writeFileSync(join(dir, 'empty.ko'), '');
    const odd = ['pipe.ko', 'dir.ko', 'null.ko', 'dangling.ko', 'empty.ko'].map((f) => join(dir, f));
    const args = [notElf, fakeXz, noModinfo, join(dir, 'missing.ko'), 'nosuch', ...odd];
    const first = trees[0] && sample(trees[0].dir, 1)[0];
    if (first) {
      const trunc = join(dir, 'trunc.ko');
      writeFileSync(trunc, readFileSync(first).subarray(0, 1000));
      // And the tree's largest .ko: read whole in one native call, the reader's buffer grows.
      const kos = readFileSync(join(trees[0]!.dir, 'modules.dep'), 'utf8')
        .split('\n')
        .map((l) => l.slice(0, l.indexOf(':')))
        .filter((f) => f.endsWith('.ko'))
        .map((f) => join(trees[0]!.dir, f));
      const largest = kos.length > 0 ? kos.reduce((a, b) => (statSync(a).size >= statSync(b).size ? a : b)) : first;
      args.push(trunc, largest);
    }
    await same(args);
    await same(['-n', ...args]);
    await same([]);
  }, 60_000); // a dozen kmod processes: seconds on a loaded machine

  it('fails like kmod on odd files named like compressed modules (read whole in one native call)', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kernmod-modinfo-xz-'));
    spawnSync('mkfifo', [join(dir, 'pipe.ko.xz')]);
    mkdirSync(join(dir, 'dir.ko.zst'));
    symlinkSync('/dev/null', join(dir, 'null.ko.xz'));
    symlinkSync('nowhere', join(dir, 'dangling.ko.gz'));
    writeFileSync(join(dir, 'empty.ko.xz'), '');
    writeFileSync(join(dir, 'text.ko.xz'), 'hello\n');
    const args = ['pipe.ko.xz', 'dir.ko.zst', 'null.ko.xz', 'dangling.ko.gz', 'empty.ko.xz', 'text.ko.xz', 'missing.ko.xz'].map((f) =>
      join(dir, f),
    );
    const xzTree = trees.find((t) => readFileSync(join(t.dir, 'modules.dep'), 'utf8').includes('.ko.xz:'));
    if (xzTree) {
      // The largest .ko.xz (several MiB: the reader's buffer grows), and one cut short.
      const files = readFileSync(join(xzTree.dir, 'modules.dep'), 'utf8')
        .split('\n')
        .map((l) => l.slice(0, l.indexOf(':')))
        .filter((f) => f.endsWith('.ko.xz'))
        .map((f) => join(xzTree.dir, f));
      const largest = files.reduce((a, b) => (statSync(a).size >= statSync(b).size ? a : b));
      const cut = join(dir, 'cut.ko.xz');
      writeFileSync(cut, readFileSync(largest).subarray(0, 5000));
      args.push(largest, cut, files[0]!);
    }
    await same(args);
    await same(['-n', ...args]);
  });
});

describe('kernmod modinfo --json', () => {
  it('prints one object for one module, an array for several, with errors in place', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kernmod-modinfo-'));
    const file = join(dir, 'j.ko');
    writeFileSync(
      file,
      buildElf({ class: 64, endian: 'little', sections: [{ name: '.modinfo', data: strings('name=j', 'license=GPL', 'parm=a:b') }] }),
    );
    const one = await ours(['--json', file]);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.out.toString())).toMatchObject({
      name: 'j',
      filename: file,
      params: [{ name: 'a', description: 'b' }],
      fields: [
        { key: 'name', value: 'j' },
        { key: 'license', value: 'GPL' },
        { key: 'parm', value: 'a:b' },
      ],
    });
    const two = await ours(['--json', file, join(dir, 'missing.ko'), 'nosuch-x']);
    expect(two.code).toBe(1);
    const arr = JSON.parse(two.out.toString()) as unknown[];
    // missing.ko is not a file, so it is looked up as a name, like kmod does, and not found.
    expect(arr).toHaveLength(3);
    expect(arr[0]).toMatchObject({ name: 'j', filename: file });
    expect(arr[1]).toEqual({
      ok: false,
      argument: join(dir, 'missing.ko'),
      error: expect.objectContaining({
        name: 'KernmodError',
        code: 'ERR_KERNMOD_NOT_FOUND',
        message: `Module ${join(dir, 'missing.ko')} not found.`,
      }),
    });
    expect(arr[2]).toEqual({
      ok: false,
      argument: 'nosuch-x',
      error: expect.objectContaining({ name: 'KernmodError', code: 'ERR_KERNMOD_NOT_FOUND', message: 'Module nosuch-x not found.' }),
    });
  });

  it("prints a failed argument in every command's error shape, plus the argument, and goes on", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kernmod-modinfo-'));
    const file = join(dir, 'j.ko');
    writeFileSync(file, buildElf({ class: 64, endian: 'little', sections: [{ name: '.modinfo', data: strings('name=j') }] }));
    const bad = join(dir, 'bad.ko');
    writeFileSync(bad, 'not an ELF file at all');
    const one = await ours(['--json', bad]);
    expect(one.code).toBe(1);
    expect(one.err.toString()).toBe('');
    const only = JSON.parse(one.out.toString()) as Record<string, unknown>;
    expect(only).toEqual({ ok: false, argument: bad, error: expect.objectContaining({ name: 'KernmodError', path: bad }) });
    const both = await ours(['--json', bad, file]);
    expect(both.code).toBe(1);
    const arr = JSON.parse(both.out.toString()) as Array<Record<string, unknown>>;
    expect(arr.map((e) => e.ok ?? e.name)).toEqual([false, 'j']);
  });

  it('answers a bad command line in the shape asked for', async () => {
    for (const argv of [['--json', '--bogus', 'x.ko'], ['--json', '-Z'], ['--json']]) {
      const r = await ours(argv);
      expect(r.code).toBe(1);
      expect(r.err.toString()).toBe('');
      expect(JSON.parse(r.out.toString())).toEqual({
        ok: false,
        error: expect.objectContaining({ name: 'KernmodError', code: 'ERR_KERNMOD_USAGE' }),
      });
    }
  });
});

describe.skipIf(!KMOD || !comparable)('kernmod modinfo: the command line as kmod parses it (glibc getopt_long)', () => {
  it("prints kmod's lines and status for a bad command line, and takes options anywhere", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kernmod-modinfo-'));
    const file = join(dir, 'o.ko');
    writeFileSync(
      file,
      buildElf({ class: 64, endian: 'little', sections: [{ name: '.modinfo', data: strings('name=o', 'license=GPL', 'author=A') }] }),
    );
    for (const args of [
      ['--bogus', file],
      ['-Z', file],
      ['-F'],
      ['--field'],
      [],
      ['--fi', 'license', file],
      ['--author=x', file],
      ['-aZ', file],
      ['-k'],
    ])
      await same(args);
    for (const args of [
      [file, '-F', 'license'],
      ['--lic', file],
      ['-alF', 'author', file],
      ['-Flicense', '--', file],
      ['--field=author', file, '-0'],
    ])
      await same(args);
  }, 60_000); // a dozen kmod processes: seconds on a loaded machine
});
