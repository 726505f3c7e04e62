import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { writeCpioNewc, CPIO_HEADER_SIZE } from '../../vm/cpio.js';

/** Parse a newc archive back into header fields (independent of the writer's code). */
function parse(buf: Buffer) {
  const out: { name: string; fields: number[]; data: Buffer; offset: number }[] = [];
  let off = 0;
  for (;;) {
    expect(buf.toString('ascii', off, off + 6)).toBe('070701');
    const fields = Array.from({ length: 13 }, (_, i) => parseInt(buf.toString('ascii', off + 6 + i * 8, off + 14 + i * 8), 16));
    const namesize = fields[11]!;
    const filesize = fields[6]!;
    const name = buf.toString('utf8', off + CPIO_HEADER_SIZE, off + CPIO_HEADER_SIZE + namesize - 1);
    expect(buf[off + CPIO_HEADER_SIZE + namesize - 1]).toBe(0);
    const dataStart = Math.ceil((off + CPIO_HEADER_SIZE + namesize) / 4) * 4;
    out.push({ name, fields, data: buf.subarray(dataStart, dataStart + filesize), offset: off });
    off = Math.ceil((dataStart + filesize) / 4) * 4;
    if (name === 'TRAILER!!!') break;
  }
  expect(off).toBe(buf.length);
  return out;
}

describe('writeCpioNewc', () => {
  it('writes the exact newc header layout for a file', () => {
    const buf = writeCpioNewc([{ type: 'file', name: 'init', data: 'abc', mode: 0o755, mtime: 0x5f5e100 }]);
    const hdr = buf.toString('ascii', 0, CPIO_HEADER_SIZE);
    expect(hdr).toBe(
      '070701' + // magic
        '00000001' + // ino
        '000081ED' + // mode: S_IFREG | 0755
        '00000000' + // uid
        '00000000' + // gid
        '00000001' + // nlink
        '05F5E100' + // mtime
        '00000003' + // filesize
        '00000000' + // devmajor
        '00000000' + // devminor
        '00000000' + // rdevmajor
        '00000000' + // rdevminor
        '00000005' + // namesize ("init" + NUL)
        '00000000', // check
    );
    // 110 + 5 = 115 -> name padded to 116; data "abc" padded to 4.
    expect(buf.subarray(110, 116)).toEqual(Buffer.from('init\0\0'));
    expect(buf.subarray(116, 120)).toEqual(Buffer.from('abc\0'));
    expect(buf.toString('ascii', 120, 126)).toBe('070701');
    expect(buf.length % 4).toBe(0);
  });

  it('encodes directories, symlinks and device nodes', () => {
    const entries = parse(
      writeCpioNewc([
        { type: 'dir', name: '/dev' },
        { type: 'char', name: './dev/console', major: 5, minor: 1 },
        { type: 'block', name: 'dev/vda', major: 254, minor: 0, mode: 0o660 },
        { type: 'symlink', name: 'bin/sh', target: 'busybox' },
      ]),
    );
    expect(entries.map((e) => e.name)).toEqual(['dev', 'dev/console', 'dev/vda', 'bin/sh', 'TRAILER!!!']);
    const [dir, con, vda, sh, trailer] = entries;
    expect(dir!.fields[1]).toBe(0o040755);
    expect(dir!.fields[4]).toBe(2);
    expect(con!.fields[1]).toBe(0o020600);
    expect([con!.fields[9], con!.fields[10]]).toEqual([5, 1]);
    expect(vda!.fields[1]).toBe(0o060660);
    expect([vda!.fields[9], vda!.fields[10]]).toEqual([254, 0]);
    expect(sh!.fields[1]).toBe(0o120777);
    expect(sh!.data.toString()).toBe('busybox');
    // distinct inode numbers, trailer has none
    expect(new Set(entries.slice(0, 4).map((e) => e.fields[0])).size).toBe(4);
    expect(trailer!.fields[0]).toBe(0);
  });

  it('pads every name and data length combination to 4 bytes', () => {
    for (let n = 1; n <= 8; n++) {
      for (let d = 0; d <= 8; d++) {
        const name = 'x'.repeat(n);
        const data = Buffer.alloc(d, 0x41);
        const [e] = parse(writeCpioNewc([{ type: 'file', name, data }]));
        expect(e!.name).toBe(name);
        expect(e!.data).toEqual(data);
      }
    }
  });

  it('is deterministic and rejects bad names', () => {
    const one = () => writeCpioNewc([{ type: 'file', name: 'a', data: Buffer.from([1, 2, 3]) }]);
    expect(one()).toEqual(one());
    expect(() => writeCpioNewc([{ type: 'dir', name: '/' }])).toThrow(/empty/);
    expect(() => writeCpioNewc([{ type: 'dir', name: 'a/../b' }])).toThrow(/\.\./);
    expect(() =>
      writeCpioNewc([
        { type: 'dir', name: 'a' },
        { type: 'dir', name: './a' },
      ]),
    ).toThrow(/duplicate/);
  });

  it.skipIf(!existsSync('/usr/bin/cpio'))('is read back by GNU cpio', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vm-cpio-'));
    try {
      const archive = writeCpioNewc([
        { type: 'dir', name: 'bin' },
        { type: 'file', name: 'bin/tool', data: 'hello\n', mode: 0o750 },
        { type: 'symlink', name: 'bin/link', target: 'tool' },
      ]);
      execFileSync('cpio', ['-i', '-d', '--quiet', '--no-absolute-filenames'], { cwd: dir, input: archive });
      expect(readFileSync(join(dir, 'bin/tool'), 'utf8')).toBe('hello\n');
      expect(statSync(join(dir, 'bin/tool')).mode & 0o777).toBe(0o750);
      expect(readlinkSync(join(dir, 'bin/link'))).toBe('tool');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
