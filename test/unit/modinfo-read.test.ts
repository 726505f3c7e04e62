// The module-file readers hand out images their callers own: an image kept from one read is not
// changed by the next read, whatever the sizes (a small file read whole, a large one read sparsely).
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OpenModuleReader } from '../../lib/cli/modinfo/open-file.js';
import { modinfoSync } from '../../lib/elf/modinfo.js';
import { readModuleImageSync } from '../../lib/elf/read.js';
import { buildElf, strings } from '../fixtures/elf-builder.js';

const dir = mkdtempSync(join(tmpdir(), 'kernmod-read-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A module file of about `padding` bytes whose .modinfo names it `name`. */
function moduleFile(name: string, padding: number): { path: string; bytes: Uint8Array } {
  const bytes = buildElf({
    class: 64,
    endian: 'little',
    sections: [
      { name: '.text', data: new Uint8Array(padding).fill(name.charCodeAt(0)) },
      { name: '.modinfo', data: strings(`name=${name}`, 'license=GPL') },
    ],
  });
  const path = join(dir, `${name}.ko`);
  writeFileSync(path, bytes);
  return { path, bytes };
}

const files = [moduleFile('small', 1000), moduleFile('other', 2000), moduleFile('large', 200_000), moduleFile('bigger', 300_000)];

describe('readModuleImageSync', () => {
  it('returns an image that the next read leaves alone', () => {
    for (const a of files) {
      for (const b of files) {
        const kept = readModuleImageSync(a.path);
        const copy = Uint8Array.from(kept);
        readModuleImageSync(b.path);
        expect(Buffer.from(kept).equals(copy), `${a.path} then ${b.path}`).toBe(true);
      }
    }
  });

  it('gives a small file whole and a large one with its .modinfo in place', () => {
    expect(Buffer.from(readModuleImageSync(files[0]!.path)).equals(files[0]!.bytes)).toBe(true);
    const image = readModuleImageSync(files[2]!.path);
    expect(image.length).toBe(files[2]!.bytes.length);
    expect(Buffer.from(image).includes('name=large')).toBe(true);
  });
});

describe("the modinfo CLI's reader of open files", () => {
  it('decodes each file as modinfoSync does, whatever came before it in its reused buffer', () => {
    const reader = new OpenModuleReader();
    const order = [...files, ...files.slice().reverse(), files[3]!, files[0]!, files[2]!];
    order.forEach(({ path }, i) => {
      const fd = openSync(path, 'r');
      try {
        const head = i % 2 === 0 ? reader.readHead(fd).length : 0;
        expect(reader.modinfo(fd, fstatSync(fd).size, path, {}, head)).toEqual(modinfoSync(path));
      } finally {
        closeSync(fd);
      }
    });
  });
});
