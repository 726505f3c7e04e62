// depmod against kmod's depmod (kmod 30, installed by setup) on trees of our own: every case builds the
// same tree twice, runs kmod's depmod on one copy and kernmod's on the other, and compares everything
// — exit status, stdout, stderr (tree paths made equal) and every file left in the trees, byte for
// byte. The modules are small ELF files built here (symbols, __versions, .modinfo), so each case says
// exactly which dependency, alias or duplicate it exercises.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { depmodCommand } from '../../lib/cli/depmod.js';
import { depmod, depmodSync, DepmodError } from '../../lib/depmod/depmod.js';
import { IndexWriter } from '../../lib/depmod/index-writer.js';
import { KernmodError } from '../../lib/errors.js';
import { BinaryIndex } from '../../lib/modprobe/index-bin.js';
import { buildElf, concat, modversion, strings } from '../fixtures/elf-builder.js';

const DEPMOD = ['/usr/sbin/depmod', '/sbin/depmod'].find((p) => existsSync(p));
const VER = '6.1.0-test';
const scratch = mkdtempSync(join(tmpdir(), 'kernmod-depmod-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface FakeModule {
  /** Exported symbols with their CRCs (as `__crc_` symbols). */
  exports?: Array<[string, number]>;
  /** Undefined symbols (needed from other modules or the kernel). */
  needs?: string[];
  weak?: string[];
  /** __versions entries: the CRC this module expects for each symbol. */
  versions?: Array<[string, number]>;
  /** .modinfo strings, "key=value". */
  modinfo?: string[];
}

/** A relocatable x86-64 ELF with just what depmod reads. */
function fakeModule(m: FakeModule): Uint8Array {
  let strtab = '\0';
  const syms: Uint8Array[] = [new Uint8Array(24)];
  const sym = (name: string, info: number, shndx: number, value: number) => {
    const b = new Uint8Array(24);
    const v = new DataView(b.buffer);
    v.setUint32(0, strtab.length, true);
    strtab += `${name}\0`;
    b[4] = info;
    v.setUint16(6, shndx, true);
    v.setBigUint64(8, BigInt(value), true);
    syms.push(b);
  };
  for (const [name, crc] of m.exports ?? []) sym(`__crc_${name}`, 0x10, 0xfff1, crc);
  for (const name of m.needs ?? []) sym(name, 0x10, 0, 0);
  for (const name of m.weak ?? []) sym(name, 0x20, 0, 0);
  const sections = [{ name: '.modinfo', data: strings(...(m.modinfo ?? [])) }];
  if (m.versions) sections.push({ name: '__versions', data: concat(...m.versions.map(([n, c]) => modversion(c, n, true, true))) });
  sections.push(
    { name: '.symtab', data: concat(...syms), type: 2 } as never,
    { name: '.strtab', data: Buffer.from(strtab, 'latin1'), type: 3 } as never,
  );
  return buildElf({ class: 64, endian: 'little', sections });
}

type Tree = Record<string, Uint8Array | string>;

function writeTree(root: string, tree: Tree): void {
  for (const [rel, data] of Object.entries(tree)) {
    const p = join(root, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, data);
  }
}

/** Every file under `dir` (relative path -> bytes). */
function snapshot(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p); // links and FIFOs are inputs, left alone
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.set(p.slice(dir.length), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

interface Run {
  status: number;
  stdout: string;
  stderr: string;
  files: Map<string, Buffer>;
}

let seq = 0;

/**
 * Builds `tree` (paths relative to the base directory; {VER} is the release) twice, runs kmod's depmod
 * and kernmod's with `args` ({BASE} is each copy's base directory) and returns both runs.
 */
async function both(tree: Tree, args: string[], prepare?: (base: string) => void): Promise<{ kmod: Run; ours: Run }> {
  const id = seq++;
  const run = async (who: 'kmod' | 'ours'): Promise<Run> => {
    const base = join(scratch, `${id}-${who}`);
    const t: Tree = {};
    for (const [k, v] of Object.entries(tree)) t[k.replaceAll('{VER}', VER)] = v;
    writeTree(base, t);
    prepare?.(base);
    const argv = args.map((a) => a.replaceAll('{BASE}', base).replaceAll('{VER}', VER));
    let r: { status: number; stdout: string; stderr: string };
    if (who === 'kmod') {
      const p = spawnSync(DEPMOD!, argv, { encoding: 'utf8', argv0: 'depmod' }); // glibc's getopt lines name argv[0]
      r = { status: p.status ?? -1, stdout: p.stdout, stderr: p.stderr };
    } else {
      let stdout = '';
      let stderr = '';
      const status = await depmodCommand(argv, { out: (s) => (stdout += s), err: (s) => (stderr += s) });
      r = { status, stdout, stderr };
    }
    return { ...r, stdout: r.stdout.replaceAll(base, '{BASE}'), stderr: r.stderr.replaceAll(base, '{BASE}'), files: snapshot(base) };
  };
  return { kmod: await run('kmod'), ours: await run('ours') };
}

function expectSame(r: { kmod: Run; ours: Run }): void {
  expect(r.ours.stderr).toBe(r.kmod.stderr);
  expect(r.ours.stdout).toBe(r.kmod.stdout);
  expect(r.ours.status).toBe(r.kmod.status);
  expect([...r.ours.files.keys()]).toEqual([...r.kmod.files.keys()]);
  for (const [name, bytes] of r.kmod.files)
    expect({ name, hex: r.ours.files.get(name)!.toString('hex') }).toEqual({ name, hex: bytes.toString('hex') });
}

const M = `lib/modules/{VER}`;

/** A small tree with a dependency chain, aliases, softdeps, device nodes and built-ins. */
const basicTree: Tree = {
  [`${M}/kernel/drivers/base/core-lib.ko`]: fakeModule({
    exports: [
      ['core_fn', 0x1111],
      ['core_fn2', 0x2222],
    ],
    needs: ['printk'],
    modinfo: ['license=GPL', 'alias=pci:v00001234d*sv*sd*bc*sc*i*'],
  }),
  [`${M}/kernel/drivers/net/net-mid.ko`]: fakeModule({
    exports: [['mid_fn', 0x3333]],
    needs: ['core_fn', 'printk'],
    modinfo: [
      'alias=net-pf-99',
      'alias=usb:v1234p5678d*dc*dsc*dp*ic*isc*ip*in*',
      'softdep=pre: core_lib',
      'alias=char-major-10-99',
      'alias=devname:mid0',
    ],
  }),
  [`${M}/kernel/drivers/net/top.ko`]: fakeModule({
    needs: ['mid_fn', 'core_fn2'],
    weak: ['nowhere_fn'],
    modinfo: ['alias=of:N*T*Cfoo,bar-baz', 'alias=block-major-8-*', 'alias=devname:bad'],
  }),
  [`${M}/kernel/fs/lonely.ko`]: fakeModule({ modinfo: ['alias=fs-lonely', 'alias=[bad'] }),
  [`${M}/extra/unordered.ko`]: fakeModule({ needs: ['core_fn'], modinfo: ['alias=symbol:x-y'] }),
  [`${M}/extra/another-one.ko`]: fakeModule({ exports: [['another_fn', 7]] }),
  [`${M}/modules.order`]:
    'kernel/drivers/net/top.ko\nkernel/drivers/base/core-lib.ko\nkernel/drivers/net/net-mid.ko\nkernel/fs/lonely.ko\n',
  [`${M}/modules.builtin`]: 'kernel/crypto/sha256.ko\nkernel/drivers/tty/vt-x.ko\n',
  [`${M}/modules.builtin.modinfo`]: Buffer.from(
    'sha256.alias=crypto-sha256\0sha256.license=GPL\0vt_x.alias=char-major-4-*\0vt_x.description=x\0',
    'latin1',
  ),
};

describe.skipIf(!DEPMOD)('depmod: kernmod vs kmod on trees of our own', () => {
  it('writes the ten files byte for byte: dependency chain, aliases, softdeps, devname, built-ins, order', async () => {
    const r = await both(basicTree, ['-b', '{BASE}', '{VER}']);
    expectSame(r);
    expect(r.ours.files.get(`/${M.replace('{VER}', VER)}/modules.dep`)!.toString()).toContain(
      'kernel/drivers/net/top.ko: kernel/drivers/net/net-mid.ko kernel/drivers/base/core-lib.ko',
    );
  });

  it('an empty tree: a 12-byte modules.dep.bin and a 0-byte modules.builtin.bin, with kmod warnings', async () => {
    const r = await both({ [`${M}/kernel/.keep`]: '' }, ['-b', '{BASE}', '{VER}']);
    expectSame(r);
    expect(r.ours.files.get(`/lib/modules/${VER}/modules.dep.bin`)!.length).toBe(12);
    expect(r.ours.files.get(`/lib/modules/${VER}/modules.builtin.bin`)!.length).toBe(0);
  });

  it('a dependency cycle: every cycle reported as kmod reports it, exit status 1, nothing written', async () => {
    const tree: Tree = {
      [`${M}/kernel/a.ko`]: fakeModule({ exports: [['a_fn', 1]], needs: ['b_fn'] }),
      [`${M}/kernel/b.ko`]: fakeModule({ exports: [['b_fn', 2]], needs: ['a_fn'] }),
      [`${M}/kernel/c.ko`]: fakeModule({ exports: [['c_fn', 3]], needs: ['d_fn'] }),
      [`${M}/kernel/d.ko`]: fakeModule({ exports: [['d_fn', 4]], needs: ['e_fn'] }),
      [`${M}/kernel/e.ko`]: fakeModule({ exports: [['e_fn', 5]], needs: ['c_fn'] }),
      [`${M}/kernel/f.ko`]: fakeModule({ needs: ['a_fn'] }),
      [`${M}/modules.order`]: 'kernel/a.ko\nkernel/b.ko\n',
    };
    const r = await both(tree, ['-b', '{BASE}', '{VER}']);
    expectSame(r);
    expect(r.ours.status).toBe(1);
    expect(r.ours.stderr).toMatch(/depmod: ERROR: Cycle detected: [a-e]( -> [a-e])+\n/);
    expect(r.ours.stderr).toContain('depmod: ERROR: Found 5 modules in dependency cycles!\n');
  });

  it('a walk that meets a second cycle ends (kmod 30 loops forever there) and reports both cycles', () => {
    const base = join(scratch, 'cycle-cross');
    writeTree(base, {
      [`lib/modules/${VER}/kernel/a.ko`]: fakeModule({ exports: [['a_fn', 1]], needs: ['b_fn'] }),
      [`lib/modules/${VER}/kernel/b.ko`]: fakeModule({ exports: [['b_fn', 2]], needs: ['a_fn'] }),
      [`lib/modules/${VER}/kernel/c.ko`]: fakeModule({ exports: [['c_fn', 3]], needs: ['d_fn', 'a_fn'] }),
      [`lib/modules/${VER}/kernel/d.ko`]: fakeModule({ exports: [['d_fn', 4]], needs: ['c_fn'] }),
      [`lib/modules/${VER}/modules.order`]: 'kernel/c.ko\nkernel/d.ko\nkernel/a.ko\nkernel/b.ko\n',
    });
    let err: DepmodError | undefined;
    try {
      depmodSync({ basedir: base, kernelVersion: VER });
    } catch (e) {
      err = e as DepmodError;
    }
    const lines = err!.messages.map((m) => m.text);
    expect(lines.filter((l) => l.startsWith('Cycle detected: ')).sort()).toEqual([
      'Cycle detected: a -> b -> a\n',
      'Cycle detected: c -> d -> c\n',
    ]);
    expect(lines.at(-1)).toBe('Found 4 modules in dependency cycles!\n');
  });

  it('the library throws a typed error for a cycle, with kmod lines attached', () => {
    const base = join(scratch, 'cycle-lib');
    writeTree(base, {
      [`lib/modules/${VER}/kernel/a.ko`]: fakeModule({ exports: [['a_fn', 1]], needs: ['b_fn'] }),
      [`lib/modules/${VER}/kernel/b.ko`]: fakeModule({ exports: [['b_fn', 2]], needs: ['a_fn'] }),
    });
    let err: unknown;
    try {
      depmodSync({ basedir: base, kernelVersion: VER });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KernmodError);
    expect(err).toBeInstanceOf(DepmodError);
    expect((err as DepmodError).code).toBe('ERR_KERNMOD_DEPMOD_CYCLE');
    expect((err as DepmodError).messages.map((m) => m.text)).toContain('Found 2 modules in dependency cycles!\n');
    expect(existsSync(join(base, `lib/modules/${VER}/modules.dep`))).toBe(false);
  });

  it('duplicates across search directories, override, external, exclude (depmod.d via -C)', async () => {
    const ext = join(scratch, 'external-dir');
    writeTree(ext, { 'dup.ko': fakeModule({ exports: [['dup_ext', 9]] }), 'only-ext.ko': fakeModule({ needs: ['dup_ext', 'pick_fn'] }) });
    const tree: Tree = {
      [`${M}/kernel/drivers/dup.ko`]: fakeModule({ exports: [['dup_kernel', 1]] }),
      [`${M}/updates/dup.ko`]: fakeModule({ exports: [['dup_updates', 2]] }),
      [`${M}/extra/dup.ko`]: fakeModule({ exports: [['dup_extra', 3]] }),
      [`${M}/kernel/drivers/pick.ko`]: fakeModule({ exports: [['pick_fn', 4]] }),
      [`${M}/updates/pick.ko`]: fakeModule({ exports: [['pick_updates', 5]] }),
      [`${M}/extra/vendor/pick.ko`]: fakeModule({ exports: [['pick_fn', 6]] }),
      [`${M}/kernel/skipme/hidden.ko`]: fakeModule({ exports: [['hidden_fn', 7]] }),
      [`${M}/extra/user.ko`]: fakeModule({ needs: ['dup_extra', 'dup_updates', 'dup_kernel', 'pick_fn', 'hidden_fn'] }),
      [`${M}/build/ignored.ko`]: fakeModule({}),
      'etc/depmod.d/a.conf':
        `# search order\nsearch extra updates built-in external\noverride pick ${VER.replace(/\./g, '\\.')} ` +
        `extra/vendor\noverride nothing 9.9 extra\nexclude skipme\nexternal * ${ext}\nbogus line\n`,
    };
    const r = await both(tree, ['-b', '{BASE}', '-C', '{BASE}/etc/depmod.d', '{VER}']);
    expectSame(r);
    const dep = r.ours.files.get(`/lib/modules/${VER}/modules.dep`)!.toString();
    expect(dep).toContain('extra/dup.ko:');
    expect(dep).toContain('extra/vendor/pick.ko:');
    expect(dep).not.toContain('hidden');
    // Without any search line kmod searches "updates" first, then the rest of the tree in readdir order.
    const r2 = await both({ ...tree, 'etc/depmod.d/a.conf': 'exclude skipme\n' }, [
      '-b',
      '{BASE}',
      '-C',
      '{BASE}/etc/depmod.d/a.conf',
      '{VER}',
    ]);
    expectSame(r2);
  });

  it('a tree of symlinks: linked modules and directories followed, a broken link and a FIFO reported in kmod’s order', async () => {
    const target = join(scratch, 'link-targets');
    writeTree(target, {
      'a.ko': fakeModule({ exports: [['a_fn', 1]] }),
      'sub/b.ko': fakeModule({ needs: ['a_fn'] }),
      'sub/c.ko': fakeModule({ needs: ['a_fn'] }),
    });
    const tree: Tree = { [`${M}/kernel/plain.ko`]: fakeModule({ needs: ['a_fn'] }) };
    const r = await both(tree, ['-b', '{BASE}', '{VER}'], (base) => {
      const k = join(base, `lib/modules/${VER}/kernel`);
      symlinkSync(join(target, 'a.ko'), join(k, 'a.ko'));
      symlinkSync(join(target, 'sub'), join(k, 'linked-dir'));
      symlinkSync(join(target, 'missing.ko'), join(k, 'broken.ko'));
      symlinkSync(join(target, 'missing-dir'), join(k, 'broken-dir'));
      execFileSync('mkfifo', [join(k, 'fifo.ko')]);
    });
    // kmod names the directory by its descriptor number (fstatat(4, broken.ko)), kernmod by its path.
    const fd = (run: Run) => ({ ...run, stderr: run.stderr.replace(/fstatat\([^,]*,/g, 'fstatat(DIR,') });
    expectSame({ kmod: fd(r.kmod), ours: fd(r.ours) });
    expect(r.ours.stderr).toContain('broken.ko');
    expect(r.ours.files.get(`/lib/modules/${VER}/modules.dep`)!.toString()).toContain('kernel/linked-dir/b.ko: kernel/a.ko');
  });

  it('compressed modules (xz, zstd) read as kmod reads them', async () => {
    const xzBytes = (b: Uint8Array) => spawnSync('xz', ['--check=crc32', '-c'], { input: b }).stdout as Buffer;
    const zstBytes = (b: Uint8Array) => spawnSync('zstd', ['-q', '-c'], { input: b }).stdout as Buffer;
    const tree: Tree = {
      [`${M}/kernel/base.ko.xz`]: xzBytes(fakeModule({ exports: [['base_fn', 1]], modinfo: ['alias=base-xz'] })),
      [`${M}/kernel/user.ko.zst`]: zstBytes(fakeModule({ needs: ['base_fn'], modinfo: ['alias=user-zst'] })),
      [`${M}/kernel/plain.ko`]: fakeModule({ needs: ['base_fn'] }),
      [`${M}/modules.order`]: 'kernel/plain.ko\nkernel/user.ko\nkernel/base.ko\n',
    };
    expectSame(await both(tree, ['-b', '{BASE}', '{VER}']));
  });

  it('.ko.gz modules are indexed too (kmod built with zlib reads them; Debian builds kmod without)', () => {
    const base = join(scratch, 'gz');
    writeTree(base, {
      [`lib/modules/${VER}/kernel/base.ko.gz`]: gzipSync(fakeModule({ exports: [['base_fn', 1]] })),
      [`lib/modules/${VER}/kernel/user.ko`]: fakeModule({ needs: ['base_fn'] }),
    });
    depmodSync({ basedir: base, kernelVersion: VER });
    const dep = readFileSync(join(base, `lib/modules/${VER}/modules.dep`), 'utf8');
    expect(dep.split('\n').sort()).toEqual(['', 'kernel/base.ko.gz:', 'kernel/user.ko: kernel/base.ko.gz']);
  });

  it('-n prints the text files on stdout and writes nothing', async () => {
    const r = await both(basicTree, ['-n', '-b', '{BASE}', '{VER}']);
    expectSame(r);
    expect(r.ours.stdout).toContain('# Aliases extracted from modules themselves.\n');
    expect([...r.ours.files.keys()].some((k) => k.endsWith('modules.dep'))).toBe(false);
  });

  it('-A does nothing while modules.dep is newer than every module, and all of it once one is touched', async () => {
    const dirOf = (base: string) => join(base, `lib/modules/${VER}`);
    const prepare = (base: string) => {
      spawnSync(DEPMOD!, ['-b', base, VER]);
      const past = new Date(Date.now() - 3600_000);
      for (const f of [
        'kernel/drivers/base/core-lib.ko',
        'kernel/drivers/net/net-mid.ko',
        'kernel/drivers/net/top.ko',
        'kernel/fs/lonely.ko',
        'extra/unordered.ko',
        'extra/another-one.ko',
      ])
        utimesSync(join(dirOf(base), f), past, past);
      rmSync(join(dirOf(base), 'modules.alias')); // -A must not bring it back while up to date
    };
    const r = await both(basicTree, ['-A', '-b', '{BASE}', '{VER}'], prepare);
    expectSame(r);
    expect(r.ours.files.has(`/lib/modules/${VER}/modules.alias`)).toBe(false);
    const touched = await both(basicTree, ['-A', '-b', '{BASE}', '{VER}'], (base) => {
      prepare(base);
      const future = new Date(Date.now() + 3600_000);
      utimesSync(join(dirOf(base), 'extra/unordered.ko'), future, future);
    });
    expectSame(touched);
    expect(touched.ours.files.has(`/lib/modules/${VER}/modules.alias`)).toBe(true);
  });

  it('-o/--outdir writes the files kmod writes in place, and leaves the tree alone', async () => {
    const ref = await both(basicTree, ['-b', '{BASE}', '{VER}']);
    const base = join(scratch, 'outdir');
    writeTree(base, Object.fromEntries(Object.entries(basicTree).map(([k, v]) => [k.replace('{VER}', VER), v])));
    const out = join(scratch, 'outdir-out');
    let stderr = '';
    expect(await depmodCommand(['-b', base, '--outdir', out, VER], { out: () => {}, err: (s) => (stderr += s) })).toBe(0);
    expect(stderr.replaceAll(base, '{BASE}')).toBe(ref.kmod.stderr);
    for (const [name, bytes] of ref.kmod.files) {
      if (!/\/modules\.[a-z.]+$/.test(name) || name.endsWith('modules.order') || /modules\.builtin(\.modinfo)?$/.test(name)) continue;
      expect(readFileSync(join(out, name)).equals(bytes)).toBe(true);
      expect(existsSync(join(base, name))).toBe(false);
    }
  });

  it('-e with -E Module.symvers and -F System.map: unknown symbols and version mismatches, as kmod says them', async () => {
    const tree: Tree = {
      [`${M}/kernel/prov.ko`]: fakeModule({ exports: [['prov_fn', 0xabc]] }),
      [`${M}/kernel/cons.ko`]: fakeModule({
        needs: ['prov_fn', 'printk', 'missing_fn', 'kmalloc'],
        weak: ['weak_missing'],
        versions: [
          ['module_layout', 0x55],
          ['prov_fn', 0xdef],
          ['printk', 0x1234],
          ['kmalloc', 0x99],
        ],
      }),
      'Module.symvers':
        '0x00001234\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n0x00000777\tkmalloc\tvmlinux\tEXPORT_SYMBOL\t\n' +
        '0x00000055\tmodule_layout\tvmlinux\tEXPORT_SYMBOL\t\n0x1\tother\tdrivers/x\tEXPORT_SYMBOL\t\n',
      'System.map': 'ffffffff81000000 T _text\nffffffff82000000 r __ksymtab_printk\nffffffff82000010 r __ksymtab_kmalloc\nbroken\n',
    };
    expectSame(await both(tree, ['-e', '-E', '{BASE}/Module.symvers', '-b', '{BASE}', '{VER}']));
    expectSame(await both(tree, ['-e', '-F', '{BASE}/System.map', '-b', '{BASE}', '{VER}']));
    expectSame(await both(tree, ['-e', '-b', '{BASE}', '{VER}']));
    expectSame(await both(tree, ['-e', '-E', '{BASE}/nonexistent', '-b', '{BASE}', '{VER}']));
  });

  it('FILES: only the modules named, and kmod’s errors for a bad version or a relative path', async () => {
    const files = [
      '{BASE}/lib/modules/{VER}/kernel/drivers/net/top.ko',
      '{BASE}/lib/modules/{VER}/kernel/drivers/net/net-mid.ko',
      '{BASE}/lib/modules/{VER}/kernel/drivers/base/core-lib.ko',
    ];
    expectSame(await both(basicTree, ['-b', '{BASE}', '{VER}', ...files]));
    expectSame(await both(basicTree, ['-b', '{BASE}', 'notaversion']));
    expectSame(await both(basicTree, ['-b', '{BASE}', '{VER}', 'relative/top.ko']));
    expectSame(await both(basicTree, ['-b', '{BASE}', '-a', '{VER}', 'relative/top.ko']));
  });

  it('options kmod refuses, and its messages for a tree that is not there', async () => {
    expectSame(await both(basicTree, ['-b', '{BASE}', '-P', 'ab', '{VER}']));
    expectSame(await both(basicTree, ['-b', '{BASE}/nowhere', '{VER}']));
    expectSame(await both(basicTree, ['-q', '--map', '-b', '{BASE}', '{VER}']));
    expectSame(await both(basicTree, ['-u', '--roo', '-m', '--unres', '-b', '{BASE}', '{VER}']));
  });

  it("a bad command line: glibc getopt_long's line and kmod's status, nothing written", { timeout: 60_000 }, async () => {
    for (const argv of [
      ['--s', '{VER}'],
      ['--s=x', '{VER}'],
      ['--qu'],
      ['--bogus'],
      ['-Z'],
      ['-b'],
      ['--basedir'],
      ['--base'],
      ['-s'],
      ['--all=1'],
      ['-C'],
    ]) {
      expectSame(await both(basicTree, argv));
    }
  });
});

describe('depmod library', () => {
  it('depmod() and depmodSync() write the same files', async () => {
    const a = join(scratch, 'lib-a');
    const b = join(scratch, 'lib-b');
    for (const base of [a, b]) writeTree(base, Object.fromEntries(Object.entries(basicTree).map(([k, v]) => [k.replace('{VER}', VER), v])));
    const ra = depmodSync({ basedir: a, kernelVersion: VER });
    const rb = await depmod({ basedir: b, kernelVersion: VER });
    expect(ra.written).toEqual(rb.written);
    expect(ra.written).toHaveLength(10);
    const sa = snapshot(a);
    const sb = snapshot(b);
    for (const [k, v] of sa) expect(sb.get(k)!.equals(v)).toBe(true);
  });

  it('the .bin files read back through lib/modprobe’s reader', () => {
    const base = join(scratch, 'readback');
    writeTree(base, Object.fromEntries(Object.entries(basicTree).map(([k, v]) => [k.replace('{VER}', VER), v])));
    depmodSync({ basedir: base, kernelVersion: VER });
    const dir = join(base, `lib/modules/${VER}`);
    const dep = new BinaryIndex(readFileSync(join(dir, 'modules.dep.bin')));
    expect(dep.search('top')).toBe('kernel/drivers/net/top.ko: kernel/drivers/net/net-mid.ko kernel/drivers/base/core-lib.ko');
    const alias = new BinaryIndex(readFileSync(join(dir, 'modules.alias.bin')));
    expect(alias.searchWild('of:NxTyCfoo,bar_baz').map((v) => v.value)).toEqual(['top']);
    const syms = new BinaryIndex(readFileSync(join(dir, 'modules.symbols.bin')));
    expect(syms.search('symbol:mid_fn')).toBe('net_mid');
  });

  it('IndexWriter: values sorted by priority, a later value before earlier ones of equal priority', () => {
    const w = new IndexWriter();
    w.insert('key', 'b', 2);
    w.insert('key', 'a', 1);
    w.insert('key', 'c', 2);
    expect(w.insert('key', 'a', 5)).toBe(true);
    w.insert('kez', 'z', 0);
    const idx = new BinaryIndex(w.toBuffer());
    expect(idx.entries().map((e) => `${e.key}=${e.value}/${e.priority}`)).toEqual(['key=a/1', 'key=c/2', 'key=b/2', 'key=a/5', 'kez=z/0']);
  });

  it('bad input is a KernmodError before anything is read or written', () => {
    expect(() => depmodSync({ kernelVersion: 'abc' })).toThrow(KernmodError);
    expect(() => depmodSync({ kernelVersion: VER, files: ['rel.ko'] })).toThrow(/not absolute path/);
    expect(() => depmodSync({ kernelVersion: VER, symbolPrefix: '__' })).toThrow(/single char/);
    expect(() => depmodSync({ basedir: join(scratch, 'none'), kernelVersion: VER })).toThrow(
      /could not search modules: No such file or directory/,
    );
  });
});
