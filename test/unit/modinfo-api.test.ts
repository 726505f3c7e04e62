// The modinfo()/modinfoSync() API over our test modules (when built) and over hand-built files:
// the typed object, compressed input, and the error shapes.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { KernmodError } from '../../lib/errors.js';
import { modinfo, modinfoFromImage, modinfoSync } from '../../lib/elf/modinfo.js';
import { OpenModuleReader } from '../../lib/cli/modinfo/open-file.js';
import { pendingRanges, readModuleImage, readModuleImageSync } from '../../lib/elf/read.js';
import { buildElf, strings } from '../fixtures/elf-builder.js';

const cache = new URL('../../.cache/test-modules/', import.meta.url).pathname;
const release = existsSync(cache) ? readdirSync(cache).find((r) => existsSync(`${cache}${r}/manifest.json`)) : undefined;
const manifest = release
  ? (JSON.parse(readFileSync(`${cache}${release}/manifest.json`, 'utf8')) as {
      release: string;
      modules: Record<string, string>;
      signer: string;
    })
  : undefined;

describe.skipIf(!manifest)('modinfo on the test modules', () => {
  const m = manifest!;
  it('describes kernmod_params: name, vermagic, depends, params in kmod order, versions, build-id', async () => {
    const info = await modinfo(m.modules.params!);
    expect(info.name).toBe('kernmod_params');
    expect(info.filename).toBe(m.modules.params);
    expect(info.vermagic!.startsWith(`${m.release} `)).toBe(true);
    expect(info.depends).toEqual([]);
    expect(info.params.map((p) => p.name)).toEqual([
      'p_int',
      'p_uint',
      'p_long',
      'p_ullong',
      'p_hexint',
      'p_byte',
      'p_short',
      'p_charp',
      'p_bool',
      'p_invbool',
      'p_string',
      'p_array',
    ]);
    expect(info.params[0]).toEqual({ name: 'p_int', description: 'test int (default -1)', type: 'int' });
    expect(info.versions.length).toBeGreaterThan(0);
    expect(info.versions.every((v) => typeof v.crc === 'number' && v.symbol.length > 0)).toBe(true);
    expect(info.elf).toEqual({ class: 64, endian: 'little', machine: 'x86_64' });
    expect(info.signature).toBeUndefined();
    const readelf = spawnSync('readelf', ['-n', m.modules.params!], { encoding: 'utf8' });
    const id = /Build ID: ([0-9a-f]+)/.exec(readelf.stdout ?? '')?.[1];
    if (id) expect(info.buildId).toBe(id);
  });

  it('gives the same answer for the .xz/.zst/.gz copies, async and sync, and says how it was compressed', async () => {
    const plain = modinfoSync(m.modules.hello!);
    for (const [key, format] of [
      ['helloXz', 'xz'],
      ['helloZst', 'zstd'],
      ['helloGz', 'gzip'],
    ] as const) {
      const a = await modinfo(m.modules[key]!);
      const s = modinfoSync(m.modules[key]!);
      expect(a.compression).toBe(format);
      expect({ ...a, filename: undefined, compression: null }).toEqual({ ...plain, filename: undefined });
      expect(s).toEqual(a);
    }
  });

  it('reads the signature of the signed copy and the forged vermagic', async () => {
    const signed = await modinfo(m.modules.helloSigned!);
    expect(signed.signature).toMatchObject({ id: 'PKCS#7', signer: m.signer, hashAlgo: 'sha256' });
    const forged = await modinfo(m.modules.forged!);
    expect(forged.vermagic).toMatch(/modversionX/);
  });

  it('accepts bytes and file: URLs, and honours maxBytes for compressed files', async () => {
    const bytes = readFileSync(m.modules.hello!);
    expect((await modinfo(bytes)).name).toBe('kernmod_hello');
    expect((await modinfo(bytes)).filename).toBeUndefined();
    expect(modinfoSync(pathToFileURL(m.modules.hello!)).name).toBe('kernmod_hello');
    await expect(modinfo(m.modules.helloXz!, { maxBytes: 1000 })).rejects.toMatchObject({
      code: 'ERR_KERNMOD_TOO_LARGE',
      path: m.modules.helloXz,
    });
  });
});

describe('modinfo errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kernmod-modinfo-api-'));

  it("reports a missing file like Node's fs, with the path", async () => {
    const missing = join(dir, 'missing.ko');
    await expect(modinfo(missing)).rejects.toMatchObject({
      name: 'KernmodError',
      code: 'ENOENT',
      errno: -2,
      syscall: 'read',
      path: missing,
    });
    expect(() => modinfoSync(missing)).toThrow(KernmodError);
  });

  it('reports bad ELF with the reason and the path', async () => {
    const p = join(dir, 'bad.ko');
    writeFileSync(p, 'not an elf at all');
    await expect(modinfo(p)).rejects.toMatchObject({
      code: 'ERR_KERNMOD_BAD_ELF',
      errno: -8,
      path: p,
      message: expect.stringMatching(/not an ELF file/),
    });
  });

  it('rejects sources of the wrong type', async () => {
    await expect(modinfo(42 as never)).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_SOURCE' });
    expect(() => modinfoSync(null as never)).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_SOURCE' }));
  });

  it('is lenient on request: a broken signature trailer becomes a warning', () => {
    const trailer = Buffer.concat([
      Buffer.from([0x30, 0x03, 0x02, 0x01]),
      Buffer.from([0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 4]),
      Buffer.from('~Module signature appended~\n'),
    ]);
    const b = buildElf({ class: 64, endian: 'little', sections: [{ name: '.modinfo', data: strings('name=s') }], trailer });
    expect(() => modinfoSync(b)).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_BAD_SIGNATURE' }));
    const info = modinfoSync(b, { lenient: true });
    expect(info.signature).toBeUndefined();
    expect(info.warnings).toEqual([expect.stringMatching(/malformed PKCS#7/)]);
  });
});

describe('special and huge files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kernmod-modinfo-special-'));
  const fifo = (name: string) => {
    const p = join(dir, name);
    execFileSync('mkfifo', [p]);
    return p;
  };
  /** Opens the FIFO's other end for a moment: a reader blocked in open() (the bug) is released. */
  const release = (p: string) => closeSync(openSync(p, constants.O_RDWR | constants.O_NONBLOCK));
  const within = <T>(ms: number, p: Promise<T>) =>
    Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms))]);

  it.skipIf(process.platform !== 'linux')(
    'refuses a FIFO named like a module at once, async (four at a time) and sync',
    async () => {
      const paths = ['a.ko', 'b.ko', 'c.ko.xz', 'd.ko.zst'].map(fifo);
      try {
        const results = await within(5000, Promise.allSettled(paths.map((p) => modinfo(p))));
        for (const [i, r] of results.entries()) {
          expect(r).toMatchObject({
            status: 'rejected',
            reason: {
              name: 'KernmodError',
              code: 'ERR_KERNMOD_INVALID_SOURCE',
              path: paths[i],
              message: expect.stringMatching(/not a regular file/),
            },
          });
        }
        await expect(within(5000, modinfo(paths[0]!, { syncRead: true }))).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_SOURCE' });
        // A writer holds the other end, so that the old reading (open, then read to the end) would block
        // forever in read() rather than in open(): either way it must not be reached.
        const writer = openSync(paths[1]!, constants.O_RDWR | constants.O_NONBLOCK);
        try {
          expect(() => modinfoSync(paths[1]!)).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_SOURCE', path: paths[1] }));
        } finally {
          closeSync(writer);
        }
      } finally {
        paths.forEach(release);
      }
    },
    30_000,
  );

  it('refuses a directory as EISDIR', async () => {
    await expect(modinfo(dir)).rejects.toMatchObject({ code: 'EISDIR', path: dir });
    expect(() => modinfoSync(dir)).toThrow(expect.objectContaining({ code: 'EISDIR', path: dir }));
  });

  it('refuses a file larger than maxBytes before reading it', async () => {
    const p = join(dir, 'big.ko');
    const fd = openSync(p, 'w');
    ftruncateSync(fd, 2 << 20);
    closeSync(fd);
    await expect(modinfo(p, { maxBytes: 1 << 20 })).rejects.toMatchObject({ code: 'ERR_KERNMOD_TOO_LARGE', path: p });
    await expect(modinfo(p, { maxBytes: 1 << 20, syncRead: true })).rejects.toMatchObject({ code: 'ERR_KERNMOD_TOO_LARGE', path: p });
    expect(() => modinfoSync(p, { maxBytes: 1 << 20 })).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_TOO_LARGE', path: p }));
  });

  it('refuses a 5 GiB sparse file with the typed error (default cap: 256 MiB), not ERR_OUT_OF_RANGE', async () => {
    const p = join(dir, 'huge.ko');
    const fd = openSync(p, 'w');
    try {
      ftruncateSync(fd, 5 * 2 ** 30);
    } finally {
      closeSync(fd);
    }
    try {
      await expect(modinfo(p)).rejects.toMatchObject({
        code: 'ERR_KERNMOD_TOO_LARGE',
        errno: -27,
        path: p,
        message: expect.stringMatching(/256 MiB|268435456/),
      });
      expect(() => modinfoSync(p)).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_TOO_LARGE', path: p }));
    } finally {
      rmSync(p);
    }
  });
});

describe('sparse reading', () => {
  it('merges ranges and skips what is already read', () => {
    expect(
      pendingRanges(
        [
          [0, 64],
          [100_000, 16_384],
        ],
        [],
      ),
    ).toEqual([
      [0, 64],
      [100_000, 16_384],
    ]);
    expect(
      pendingRanges(
        [
          [10, 5],
          [20, 5],
          [9000, 10],
        ],
        [[0, 8]],
      ),
    ).toEqual([
      [10, 15],
      [9000, 10],
    ]);
    expect(pendingRanges([[100_500, 100]], [[100_000, 16_384]])).toEqual([]);
    expect(pendingRanges([[5, 0]], [])).toEqual([]);
  });

  // Large plain modules are read sparsely; the answer must be the one a full read gives.
  const big = (existsSync('/lib/modules') ? readdirSync('/lib/modules') : [])
    .map((r) => `/lib/modules/${r}/kernel/fs`)
    .filter((d) => existsSync(d))
    .flatMap((d) => readdirSync(d, { recursive: true }).map((f) => `${d}/${f}`))
    .filter((f) => f.endsWith('.ko'))
    .slice(0, 25);
  if (manifest) big.push(manifest.modules.params!, manifest.modules.helloSigned!);
  // The CLI's reader reuses one buffer: whatever order files of every size come in, each module decodes
  // as it does from its own bytes — read from the head (as the CLI does) or not.
  const mixed = (existsSync('/lib/modules') ? readdirSync('/lib/modules') : [])
    .map((r) => `/lib/modules/${r}/kernel/drivers/net`)
    .filter((d) => existsSync(d))
    .flatMap((d) => readdirSync(d, { recursive: true, encoding: 'utf8' }).map((f) => `${d}/${f}`))
    .filter((f) => /\.ko(\.xz)?$/.test(f))
    .filter((_, i) => i % 7 === 0)
    .slice(0, 60);
  it.skipIf(mixed.length === 0)(
    `decodes each file as from its own bytes, through one reused buffer (${mixed.length} modules, two passes)`,
    () => {
      const order = [...mixed, ...mixed.slice().reverse()];
      const reader = new OpenModuleReader();
      order.forEach((f, i) => {
        const fd = openSync(f, 'r');
        try {
          const head = i % 2 === 0 ? reader.readHead(fd).length : 0;
          expect(reader.modinfo(fd, fstatSync(fd).size, f, {}, head)).toEqual(modinfoSync(f));
        } finally {
          closeSync(fd);
        }
      });
    },
  );

  // syncRead: a compressed file read while the thread pool decodes another must not overwrite it.
  const compressed = (existsSync('/lib/modules') ? readdirSync('/lib/modules') : [])
    .map((r) => `/lib/modules/${r}/kernel/fs`)
    .filter((d) => existsSync(d))
    .flatMap((d) => readdirSync(d, { recursive: true, encoding: 'utf8' }).map((f) => `${d}/${f}`))
    .filter((f) => f.endsWith('.ko.xz'))
    .slice(0, 24);
  it.skipIf(compressed.length === 0)(
    `decodes compressed files read with syncRead from bytes of their own (${compressed.length} modules at once)`,
    async () => {
      const all = await Promise.all(compressed.map((f) => modinfo(f, { syncRead: true })));
      expect(all).toEqual(compressed.map((f) => modinfoSync(f)));
    },
    60_000,
  );

  it.skipIf(big.length === 0)(`gives the same modinfo as a full read (${big.length} modules)`, async () => {
    for (const f of big) {
      const full = modinfoFromImage(readFileSync(f), { filename: f });
      expect(modinfoSync(f)).toEqual(full);
      expect(await modinfo(f)).toEqual(full);
      const sparse = readModuleImageSync(f);
      expect(sparse.length).toBe(readFileSync(f).length);
      expect((await readModuleImage(f)).length).toBe(sparse.length);
    }
  });
});
