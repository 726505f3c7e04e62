// Finding the guest kernels: Debian installs /boot/vmlinuz-<release> plus /lib/modules/<release>/
// (and, with the headers package, /lib/modules/<release>/build -> /usr/src/linux-headers-<release>).
// Specs name a kernel series ("6.1", "6.12") so nothing depends on a patch release that the next
// security update replaces; the newest installed match wins.
import { closeSync, existsSync, openSync, readdirSync, readSync, realpathSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

export interface KernelInfo {
  /** uname -r of the guest, e.g. "6.1.0-56-amd64" */
  release: string;
  vmlinuz: string;
  modulesDir: string;
  /** kbuild tree for building out-of-tree modules, or null when the headers are not installed */
  headersDir: string | null;
}

/** Where to look; injectable so tests can use a fake /boot and /lib/modules. */
export interface KernelLayout {
  bootDir: string;
  modulesRoot: string;
}

const DEFAULT_LAYOUT: KernelLayout = { bootDir: '/boot', modulesRoot: '/lib/modules' };
export const DEFAULT_KERNEL_SPEC = '6.1';

/** Compare kernel releases numerically piecewise ("6.12.117+deb12" > "6.12.9+deb12"). */
export function compareReleases(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}

/** "6.12" of "6.12.117+deb12-amd64", or null. */
export function seriesOf(release: string): string | null {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? `${m[1]}.${m[2]}` : null;
}

/** Debian's generic flavour ends in plain "-amd64"; cloud/rt flavours lack drivers or behave differently. */
function isGenericFlavour(release: string): boolean {
  return /-amd64$/.test(release) && !/-(cloud|rt)-amd64$/.test(release);
}

/**
 * Release string from an x86 bzImage: the setup header ("HdrS" at 0x202) holds at 0x20E a pointer
 * (minus 0x200) to the NUL-terminated version string "6.1.0-56-amd64 (debian-kernel@...) #1 ...".
 */
export function releaseFromBzImageHeader(buf: Buffer): string | null {
  if (buf.length < 0x210 || buf.toString('latin1', 0x202, 0x206) !== 'HdrS') return null;
  const off = buf.readUInt16LE(0x20e) + 0x200;
  if (off >= buf.length) return null;
  const end = buf.indexOf(0, off);
  const text = buf.toString('latin1', off, end < 0 ? Math.min(buf.length, off + 256) : end);
  const rel = text.split(/\s+/)[0];
  return rel && /^\d+\.\d+/.test(rel) ? rel : null;
}

function readHead(path: string, n: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function headersFor(modulesDir: string): string | null {
  const build = join(modulesDir, 'build');
  try {
    const real = realpathSync(build);
    return existsSync(join(real, 'Makefile')) ? real : null;
  } catch {
    return null;
  }
}

function infoFor(release: string, vmlinuz: string, layout: KernelLayout): KernelInfo | null {
  const modulesDir = join(layout.modulesRoot, release);
  if (!existsSync(join(modulesDir, 'modules.dep'))) return null;
  return { release, vmlinuz, modulesDir, headersDir: headersFor(modulesDir) };
}

/** Kernels that can boot a guest: a vmlinuz in /boot with a matching, depmod'ed modules directory. Newest first. */
export function listInstalledKernels(layout: KernelLayout = DEFAULT_LAYOUT): KernelInfo[] {
  let names: string[];
  try {
    names = readdirSync(layout.bootDir);
  } catch {
    return [];
  }
  const out: KernelInfo[] = [];
  for (const n of names) {
    if (!n.startsWith('vmlinuz-')) continue;
    const info = infoFor(n.slice('vmlinuz-'.length), join(layout.bootDir, n), layout);
    if (info) out.push(info);
  }
  return out.sort((a, b) => compareReleases(b.release, a.release));
}

function describeInstalled(layout: KernelLayout): string {
  const list = listInstalledKernels(layout).map((k) => k.release);
  return list.length ? `installed: ${list.join(', ')}` : `no kernels installed in ${layout.bootDir}`;
}

function provisionHint(spec: string): string {
  return `install it with \`kernmod vm --provision --kernel ${spec}\` (as root)`;
}

/**
 * Resolve a kernel spec: a series ("6.1", "6.12": newest installed release of it, generic flavour
 * preferred), an exact release ("6.1.0-56-amd64"), a vmlinuz file, or a /lib/modules/<release> dir.
 */
export function resolveKernel(spec: string = DEFAULT_KERNEL_SPEC, layout: KernelLayout = DEFAULT_LAYOUT): KernelInfo {
  if (spec.includes('/')) return resolvePathSpec(spec, layout);

  if (/^\d+\.\d+$/.test(spec)) {
    const matches = listInstalledKernels(layout).filter((k) => seriesOf(k.release) === spec);
    matches.sort(
      (a, b) => Number(isGenericFlavour(b.release)) - Number(isGenericFlavour(a.release)) || compareReleases(b.release, a.release),
    );
    const best = matches[0];
    if (!best) throw new Error(`No installed kernel of series ${spec} (${describeInstalled(layout)}); ${provisionHint(spec)}`);
    return best;
  }

  const exact = listInstalledKernels(layout).find((k) => k.release === spec);
  if (exact) return exact;
  throw new Error(
    `Unknown kernel "${spec}": expected a series like 6.1 or 6.12, an installed release, a vmlinuz path ` +
      `or a /lib/modules/<release> directory (${describeInstalled(layout)})`,
  );
}

function resolvePathSpec(spec: string, layout: KernelLayout): KernelInfo {
  const p = resolve(spec);
  let st;
  try {
    st = statSync(p);
  } catch {
    throw new Error(`Kernel path ${p} does not exist`);
  }
  if (st.isDirectory()) {
    // /lib/modules/<release>: the vmlinuz is the one Debian installs next to it in /boot.
    const release = basename(p);
    if (!existsSync(join(p, 'modules.dep')))
      throw new Error(`${p} has no modules.dep; not a /lib/modules/<release> directory (run depmod?)`);
    const vmlinuz = join(layout.bootDir, `vmlinuz-${release}`);
    if (!existsSync(vmlinuz)) throw new Error(`No kernel image for ${release}: ${vmlinuz} does not exist`);
    return { release, vmlinuz, modulesDir: p, headersDir: headersFor(p) };
  }
  const fromName = /^vmlinuz-(.+)$/.exec(basename(p))?.[1];
  const release = fromName ?? releaseFromBzImageHeader(readHead(p, 0x10000));
  if (!release)
    throw new Error(`Cannot tell the kernel release of ${p}: not named vmlinuz-<release> and not a bzImage with a version string`);
  const modulesDir = join(layout.modulesRoot, release);
  if (!existsSync(join(modulesDir, 'modules.dep'))) {
    throw new Error(`Kernel ${p} is release ${release}, but ${modulesDir}/modules.dep does not exist (modules not installed?)`);
  }
  return { release, vmlinuz: p, modulesDir, headersDir: headersFor(modulesDir) };
}
