// Minimal writer for the "newc" cpio format (the one the Linux initramfs unpacker understands).
// Pure: takes a list of entries and returns the archive bytes, so the byte layout can be unit-tested
// without touching the file system.
//
// Layout of one entry: the 6-byte magic "070701", 13 fields of 8 upper-case hex digits
// (ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize,
// check), the NUL-terminated name padded with NULs so header+name is a multiple of 4, then the data
// padded to a multiple of 4. The archive ends with an entry named "TRAILER!!!".

export type CpioEntry =
  | { type: 'file'; name: string; data: Buffer | string; mode?: number; uid?: number; gid?: number; mtime?: number }
  | { type: 'dir'; name: string; mode?: number; uid?: number; gid?: number; mtime?: number }
  | { type: 'symlink'; name: string; target: string; uid?: number; gid?: number; mtime?: number }
  | {
      type: 'char' | 'block';
      name: string;
      major: number;
      minor: number;
      mode?: number;
      uid?: number;
      gid?: number;
      mtime?: number;
    };

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

const CPIO_NEWC_MAGIC = '070701';
export const CPIO_HEADER_SIZE = 110;
const TRAILER = 'TRAILER!!!';

function hex8(n: number, what: string): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio: ${what} out of range: ${n}`);
  return n.toString(16).toUpperCase().padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/** Entry names are stored relative ("bin/sh"), which is what the kernel and GNU cpio expect. */
function normalizeName(name: string): string {
  const n = name.replace(/^(\.\/|\/)+/, '');
  if (n === '' || n === '.') throw new Error(`cpio: empty entry name (${JSON.stringify(name)})`);
  if (n.split('/').includes('..')) throw new Error(`cpio: entry name must not contain "..": ${name}`);
  if (n.includes('\0')) throw new Error(`cpio: entry name contains NUL: ${JSON.stringify(name)}`);
  return n;
}

function header(fields: {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  filesize: number;
  rdevmajor: number;
  rdevminor: number;
  namesize: number;
}): string {
  return (
    CPIO_NEWC_MAGIC +
    hex8(fields.ino, 'ino') +
    hex8(fields.mode, 'mode') +
    hex8(fields.uid, 'uid') +
    hex8(fields.gid, 'gid') +
    hex8(fields.nlink, 'nlink') +
    hex8(fields.mtime, 'mtime') +
    hex8(fields.filesize, 'filesize') +
    hex8(0, 'devmajor') +
    hex8(0, 'devminor') +
    hex8(fields.rdevmajor, 'rdevmajor') +
    hex8(fields.rdevminor, 'rdevminor') +
    hex8(fields.namesize, 'namesize') +
    hex8(0, 'check')
  );
}

function record(h: Parameters<typeof header>[0], name: string, data: Buffer): Buffer[] {
  const nameBytes = Buffer.from(name + '\0', 'utf8');
  const head = Buffer.from(header({ ...h, namesize: nameBytes.length, filesize: data.length }), 'ascii');
  return [head, nameBytes, Buffer.alloc(pad4(CPIO_HEADER_SIZE + nameBytes.length)), data, Buffer.alloc(pad4(data.length))];
}

/**
 * Serialize entries into a newc archive. Entries are written in the given order, so parents must
 * come before their children (the kernel does not create missing directories). Every entry gets its
 * own inode number and nlink 1 (hard links are not supported: the kernel would treat equal inode
 * numbers with nlink > 1 as links). mtime defaults to 0 so the same inputs give the same bytes.
 */
export function writeCpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const seen = new Set<string>();
  let ino = 1;
  for (const e of entries) {
    const name = normalizeName(e.name);
    if (seen.has(name)) throw new Error(`cpio: duplicate entry ${name}`);
    seen.add(name);
    const base = {
      ino: ino++,
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      nlink: 1,
      mtime: e.mtime ?? 0,
      rdevmajor: 0,
      rdevminor: 0,
      namesize: 0,
      filesize: 0,
    };
    switch (e.type) {
      case 'file': {
        const data = typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : e.data;
        parts.push(...record({ ...base, mode: S_IFREG | ((e.mode ?? 0o644) & 0o7777) }, name, data));
        break;
      }
      case 'dir':
        parts.push(...record({ ...base, nlink: 2, mode: S_IFDIR | ((e.mode ?? 0o755) & 0o7777) }, name, Buffer.alloc(0)));
        break;
      case 'symlink':
        parts.push(...record({ ...base, mode: S_IFLNK | 0o777 }, name, Buffer.from(e.target, 'utf8')));
        break;
      case 'char':
      case 'block':
        parts.push(
          ...record(
            {
              ...base,
              mode: (e.type === 'char' ? S_IFCHR : S_IFBLK) | ((e.mode ?? 0o600) & 0o7777),
              rdevmajor: e.major,
              rdevminor: e.minor,
            },
            name,
            Buffer.alloc(0),
          ),
        );
        break;
    }
  }
  parts.push(
    ...record(
      { ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, rdevmajor: 0, rdevminor: 0, namesize: 0, filesize: 0 },
      TRAILER,
      Buffer.alloc(0),
    ),
  );
  return Buffer.concat(parts);
}
