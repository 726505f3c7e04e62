// Host programs the rig needs, and the Debian packages that provide them. Kept in one table so the
// run-time checks (clear "missing X" errors) and provisioning agree.
import { accessSync, closeSync, constants, openSync, readSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface HostTool {
  /** program looked up in PATH (plus the sbin directories, which non-root PATHs often lack) */
  program: string;
  /** Debian package providing it */
  package: string;
  /** why the rig needs it (shown when it is missing) */
  why: string;
}

const HOST_TOOLS: readonly HostTool[] = [
  { program: 'qemu-system-x86_64', package: 'qemu-system-x86', why: 'runs the guest' },
  { program: 'busybox', package: 'busybox-static', why: 'userland of the initramfs (must be statically linked)' },
  { program: 'timeout', package: 'coreutils', why: 'kills qemu even if node dies' },
  { program: 'kmod', package: 'kmod', why: 'modprobe/depmod inside the guest' },
  { program: 'xz', package: 'xz-utils', why: 'decompresses .ko.xz bootstrap modules' },
  { program: 'zstd', package: 'zstd', why: 'decompresses .ko.zst bootstrap modules' },
  { program: 'openssl', package: 'openssl', why: 'signing test modules' },
  { program: 'make', package: 'make', why: 'builds the test modules with kbuild' },
];

const EXTRA_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of an executable in PATH (or the usual system directories), or null. */
export function which(program: string): string | null {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const d of dirs) {
    const p = join(d, program);
    try {
      if (!statSync(p).isFile()) continue;
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * True for an ELF executable without a PT_INTERP program header, i.e. one that runs without a
 * dynamic loader. Debian's "busybox" package is dynamic; only "busybox-static" works in an
 * initramfs that contains no libc.
 */
export function isStaticElf(buf: Buffer): boolean {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) return false;
  const is64 = buf[4] === 2;
  const le = buf[5] === 1;
  const u16 = (o: number) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const u64 = (o: number) => Number(le ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o));
  const phoff = is64 ? u64(0x20) : u32(0x1c);
  const phentsize = u16(is64 ? 0x36 : 0x2a);
  const phnum = u16(is64 ? 0x38 : 0x2c);
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (o + 4 > buf.length) return false; // headers beyond what we read: cannot tell, say no
    if (u32(o) === 3 /* PT_INTERP */) return false;
  }
  return true;
}

function readHead(path: string, n: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(n);
    return b.subarray(0, readSync(fd, b, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

/** A statically linked busybox, or null. Checks the Debian busybox-static locations before PATH. */
function findStaticBusybox(): string | null {
  const candidates = ['/bin/busybox', '/usr/bin/busybox', which('busybox')].filter((p): p is string => !!p);
  for (const p of candidates) {
    try {
      if (isStaticElf(readHead(p, 8192))) return p;
    } catch {
      // unreadable: try the next
    }
  }
  return null;
}

/** Tools from HOST_TOOLS that are missing on this machine. */
export function missingTools(): HostTool[] {
  return HOST_TOOLS.filter((t) => (t.program === 'busybox' ? findStaticBusybox() === null : which(t.program) === null));
}

/** Resolve a required tool or throw an error naming the package to install. */
export function requireTool(program: string): string {
  const tool = HOST_TOOLS.find((t) => t.program === program);
  const found = program === 'busybox' ? findStaticBusybox() : which(program);
  if (found) return found;
  const pkg = tool ? ` (Debian package ${tool.package}; ${tool.why})` : '';
  throw new Error(
    `kernmod vm: ${program === 'busybox' ? 'a statically linked busybox' : program} not found${pkg}. ` +
      `Install it, or run \`kernmod vm --provision\` as root.`,
  );
}
