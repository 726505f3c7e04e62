import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it, expect } from 'vitest';
import {
  compareReleases,
  listInstalledKernels,
  releaseFromBzImageHeader,
  resolveKernel,
  seriesOf,
  type KernelLayout,
} from '../../vm/kernels.js';

/** A fake /boot + /lib/modules (+ headers) tree. */
function fakeLayout(kernels: { release: string; modules?: boolean; headers?: boolean }[]): KernelLayout & { root: string } {
  const root = mkdtempSync(join(tmpdir(), 'vm-kernels-'));
  const bootDir = join(root, 'boot');
  const modulesRoot = join(root, 'lib/modules');
  mkdirSync(bootDir, { recursive: true });
  mkdirSync(modulesRoot, { recursive: true });
  for (const k of kernels) {
    writeFileSync(join(bootDir, `vmlinuz-${k.release}`), 'not really a kernel');
    writeFileSync(join(bootDir, `config-${k.release}`), '');
    if (k.modules === false) continue;
    const md = join(modulesRoot, k.release);
    mkdirSync(md, { recursive: true });
    writeFileSync(join(md, 'modules.dep'), '');
    if (k.headers) {
      const hd = join(root, 'usr/src', `linux-headers-${k.release}`);
      mkdirSync(hd, { recursive: true });
      writeFileSync(join(hd, 'Makefile'), '');
      symlinkSync(hd, join(md, 'build'));
    }
  }
  return { root, bootDir, modulesRoot };
}

const layouts: string[] = [];
afterAll(() => layouts.forEach((r) => rmSync(r, { recursive: true, force: true })));

function layout(kernels: Parameters<typeof fakeLayout>[0]) {
  const l = fakeLayout(kernels);
  layouts.push(l.root);
  return l;
}

describe('kernel releases', () => {
  it('orders releases numerically', () => {
    expect(compareReleases('6.12.117+deb12-amd64', '6.12.9+deb12-amd64')).toBeGreaterThan(0);
    expect(compareReleases('6.1.0-56-amd64', '6.1.0-9-amd64')).toBeGreaterThan(0);
    expect(compareReleases('6.1.0-56-amd64', '6.12.9+deb12-amd64')).toBeLessThan(0);
    expect(compareReleases('6.1.0-56-amd64', '6.1.0-56-amd64')).toBe(0);
    expect(seriesOf('6.12.117+deb12-amd64')).toBe('6.12');
    expect(seriesOf('6.1.0-56-amd64')).toBe('6.1');
  });

  it('reads the release from a bzImage setup header', () => {
    const buf = Buffer.alloc(0x4000);
    buf.write('HdrS', 0x202, 'latin1');
    buf.writeUInt16LE(0x3000 - 0x200, 0x20e);
    buf.write('6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP\0', 0x3000, 'latin1');
    expect(releaseFromBzImageHeader(buf)).toBe('6.1.0-56-amd64');
    expect(releaseFromBzImageHeader(Buffer.alloc(0x4000))).toBeNull();
  });
});

describe('resolveKernel with a fake /boot', () => {
  const l = layout([
    { release: '6.1.0-9-amd64', headers: true },
    { release: '6.1.0-56-amd64', headers: true },
    { release: '6.1.0-60-cloud-amd64' },
    { release: '6.12.9+deb12-amd64' },
    { release: '6.12.117+deb12-amd64', headers: true },
    { release: '6.13.0-1-amd64', modules: false },
  ]);

  it('lists bootable kernels newest first, skipping ones without modules', () => {
    expect(listInstalledKernels(l).map((k) => k.release)).toEqual([
      '6.12.117+deb12-amd64',
      '6.12.9+deb12-amd64',
      '6.1.0-60-cloud-amd64',
      '6.1.0-56-amd64',
      '6.1.0-9-amd64',
    ]);
  });

  it('resolves a series to its newest generic-flavour release; 6.1 never matches 6.12', () => {
    const k61 = resolveKernel('6.1', l);
    expect(k61.release).toBe('6.1.0-56-amd64');
    expect(k61.vmlinuz).toBe(join(l.bootDir, 'vmlinuz-6.1.0-56-amd64'));
    expect(k61.modulesDir).toBe(join(l.modulesRoot, '6.1.0-56-amd64'));
    expect(k61.headersDir).toMatch(/linux-headers-6\.1\.0-56-amd64$/);
    const k612 = resolveKernel('6.12', l);
    expect(k612.release).toBe('6.12.117+deb12-amd64');
  });

  it('resolves exact releases, vmlinuz paths and modules directories', () => {
    expect(resolveKernel('6.12.9+deb12-amd64', l).headersDir).toBeNull();
    expect(resolveKernel(join(l.bootDir, 'vmlinuz-6.1.0-9-amd64'), l).release).toBe('6.1.0-9-amd64');
    const byDir = resolveKernel(join(l.modulesRoot, '6.12.9+deb12-amd64'), l);
    expect(byDir.vmlinuz).toBe(join(l.bootDir, 'vmlinuz-6.12.9+deb12-amd64'));
  });

  it('explains what is missing', () => {
    expect(() => resolveKernel('6.6', l)).toThrow(/No installed kernel of series 6\.6 \(installed: 6\.12\.117/);
    expect(() => resolveKernel('6.6', l)).toThrow(/`kernmod vm --provision --kernel 6\.6`/);
    expect(() => resolveKernel(join(l.bootDir, 'vmlinuz-6.13.0-1-amd64'), l)).toThrow(/modules\.dep does not exist/);
    expect(() => resolveKernel('/nonexistent/vmlinuz', l)).toThrow(/does not exist/);
    expect(() => resolveKernel('banana', l)).toThrow(/Unknown kernel "banana"/);
  });

  it('copes with an empty machine', () => {
    const empty = layout([]);
    expect(listInstalledKernels(empty)).toEqual([]);
    expect(() => resolveKernel(undefined, empty)).toThrow(/no kernels installed/);
  });
});
