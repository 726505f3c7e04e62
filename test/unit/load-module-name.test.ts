// LoadResult.module is always the loaded module's name (issue #20): a path's by kmod's rule (the file
// name), bytes' and an fd's by the module's own (.modinfo name=, else .gnu.linkonce.this_module), the
// name the kernel registers. Against the fake kernel, which registers an image by its `name=` string.
import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createFakeBackend, FakeKernel } from '../../lib/backend/fake.js';
import { moduleNameOfImage } from '../../lib/elf/this-module.js';
import { bind } from '../../lib/kernmod.js';
import { buildElf, strings } from '../fixtures/elf-builder.js';

const dir = mkdtempSync(join(tmpdir(), 'kernmod-name-'));

/** A real ELF module image whose .modinfo names it `name`. */
const elfModule = (name: string) =>
  buildElf({ class: 64, endian: 'little', sections: [{ name: '.modinfo', data: strings('license=GPL', `name=${name}`) }] });

function setup(compression?: 'gzip') {
  const kernel = new FakeKernel(compression ? { compression } : {});
  const sysRoot = mkdtempSync(join(tmpdir(), 'kernmod-sys-'));
  if (compression) {
    mkdirSync(join(sysRoot, 'module'));
    writeFileSync(join(sysRoot, 'module/compression'), `${compression}\n`);
  }
  return { kernel, km: bind(createFakeBackend(kernel), { sysRoot }) };
}

function fileOf(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

describe('LoadResult.module names the module for every source', () => {
  it('bytes: the image names itself', async () => {
    const { kernel, km } = setup();
    expect((await km.loadModule(elfModule('bytes_a'))).module).toBe('bytes_a');
    expect(km.loadModuleSync(elfModule('bytes_s')).module).toBe('bytes_s');
    expect([...kernel.modules.keys()]).toEqual(['bytes_a', 'bytes_s']);
  });

  it('bytes with ignore flags (through an anonymous file): the image names itself', async () => {
    const { km } = setup();
    const r = await km.loadModule(elfModule('bytes_flags'), { ignoreVermagic: true });
    expect(r).toMatchObject({ module: 'bytes_flags', fallback: 'anonymous-file' });
  });

  it('async bytes: named as the kernel received them, although the caller reuses its buffer once the call is made', async () => {
    // The native backend's Promise form hands the kernel a private copy (README): so does this wrapper.
    const fake = createFakeBackend(new FakeKernel());
    const km = bind({ ...fake, initModule: (image: Uint8Array, params: string) => fake.initModule(Uint8Array.from(image), params) });
    const image = elfModule('early_name');
    const pending = km.loadModule(image);
    image.fill(0);
    expect((await pending).module).toBe('early_name');
  });

  it('compressed bytes: named from the image decompressed to load it', async () => {
    const { km } = setup();
    const r = await km.loadModule(gzipSync(elfModule('gz_bytes_a')));
    expect(r).toMatchObject({ module: 'gz_bytes_a', compression: { format: 'gzip', decompressedBy: 'user' } });
    expect(km.loadModuleSync(gzipSync(elfModule('gz_bytes_s'))).module).toBe('gz_bytes_s');
  });

  it("an fd: named from the file read at its offsets, and the caller's file offset does not move", async () => {
    const { km } = setup();
    for (const [name, load] of [
      ['fd_a', (fd: number) => km.loadModule({ fd })],
      ['fd_s', async (fd: number) => km.loadModuleSync({ fd })],
    ] as const) {
      const bytes = elfModule(name);
      const fd = openSync(fileOf(`renamed-${name}.ko`, bytes), 'r');
      try {
        const head = Buffer.alloc(3);
        readSync(fd, head, 0, 3, null);
        expect((await load(fd)).module).toBe(name);
        const next = Buffer.alloc(3);
        readSync(fd, next, 0, 3, null);
        expect([...next]).toEqual([...bytes.subarray(3, 6)]);
      } finally {
        closeSync(fd);
      }
    }
  });

  it('a compressed fd the kernel decompressed itself: decompressed here to read the name', async () => {
    for (const decompress of ['auto', 'kernel'] as const) {
      const { km } = setup('gzip');
      const fd = openSync(fileOf(`gz-${decompress}.ko.gz`, gzipSync(elfModule(`gz_fd_${decompress}`))), 'r');
      try {
        const r = await km.loadModule({ fd }, { decompress });
        expect(r).toMatchObject({ module: `gz_fd_${decompress}`, compression: { format: 'gzip', decompressedBy: 'kernel' } });
      } finally {
        closeSync(fd);
      }
    }
  });

  it("a renamed file by path: kmod's rule, the file's name (the kernel registers the module's own)", async () => {
    const { kernel, km } = setup();
    const r = await km.loadModule(fileOf('foo.ko', elfModule('bar')));
    expect(r.module).toBe('foo');
    expect(kernel.modules.has('bar')).toBe(true);
  });
});

describe('moduleNameOfImage', () => {
  it('.modinfo name= first, else struct module in .gnu.linkonce.this_module', () => {
    const thisModule = (name: string) => {
      const data = Buffer.alloc(24 + 56);
      data.write(name, 24, 'latin1');
      return { name: '.gnu.linkonce.this_module', data };
    };
    expect(moduleNameOfImage(elfModule('from_modinfo'))).toBe('from_modinfo');
    const both = buildElf({
      class: 64,
      endian: 'little',
      sections: [{ name: '.modinfo', data: strings('name=info_name') }, thisModule('struct_name')],
    });
    expect(moduleNameOfImage(both)).toBe('info_name');
    expect(moduleNameOfImage(buildElf({ class: 64, endian: 'little', sections: [thisModule('struct_only')] }))).toBe('struct_only');
    expect(moduleNameOfImage(buildElf({ class: 64, endian: 'little', sections: [] }))).toBeUndefined();
  });
});
