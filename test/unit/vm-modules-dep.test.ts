import { describe, it, expect } from 'vitest';
import { bootstrapModules, moduleNameOf, parseModulesBuiltin, parseModulesDep } from '../../vm/modules-dep.js';

// Excerpts of the real files of Debian's 6.1 and 6.12 kernels (order as depmod writes them).
const DEP_61 =
  `kernel/fs/netfs/netfs.ko:
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko ` +
  `kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/net/9p/9pnet.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
`;
const BUILTIN_61 = `kernel/fs/ext4/ext4.ko\n`;

const DEP_612 = `kernel/fs/netfs/netfs.ko.xz:
kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz
kernel/net/9p/9pnet.ko.xz: kernel/fs/netfs/netfs.ko.xz
kernel/net/9p/9pnet_virtio.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz
`;
const BUILTIN_612 = `kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko
kernel/drivers/virtio/virtio_pci_legacy_dev.ko
kernel/drivers/virtio/virtio_pci.ko
`;

/** Every module comes after all of its dependencies. */
function expectTopological(order: string[], depText: string) {
  const dep = parseModulesDep(depText);
  order.forEach((m, i) => {
    for (const d of dep.deps.get(m) ?? []) {
      if (dep.path.has(d)) expect(order.indexOf(d), `${d} before ${m}`).toBeLessThan(i);
    }
  });
}

describe('modules.dep bootstrap closure', () => {
  it('names modules like the kernel does', () => {
    expect(moduleNameOf('kernel/net/9p/9pnet_virtio.ko')).toBe('9pnet_virtio');
    expect(moduleNameOf('kernel/fs/9p/9p.ko.xz')).toBe('9p');
    expect(moduleNameOf('kernel/drivers/char/hw_random/virtio-rng.ko.zst')).toBe('virtio_rng');
  });

  it('6.1: loads the whole virtio + 9p stack from modules, dependencies first', () => {
    const mods = bootstrapModules(parseModulesDep(DEP_61), parseModulesBuiltin(BUILTIN_61));
    const names = mods.map((m) => m.name);
    expect(new Set(names)).toEqual(
      new Set([
        'virtio_ring',
        'virtio',
        'virtio_pci_legacy_dev',
        'virtio_pci_modern_dev',
        'virtio_pci',
        'netfs',
        'fscache',
        '9pnet',
        '9pnet_virtio',
        '9p',
      ]),
    );
    expect(names).not.toContain('virtio_blk');
    expectTopological(names, DEP_61);
    expect(mods.find((m) => m.name === '9p')?.path).toBe('kernel/fs/9p/9p.ko');
  });

  it('6.12: skips built-in virtio/virtio_pci and keeps the compressed paths', () => {
    const mods = bootstrapModules(parseModulesDep(DEP_612), parseModulesBuiltin(BUILTIN_612));
    expect(mods.map((m) => m.name)).toEqual(['netfs', '9pnet', '9p', '9pnet_virtio']);
    expect(mods[0]?.path).toBe('kernel/fs/netfs/netfs.ko.xz');
  });

  it('fails clearly when a target is neither a module nor built in', () => {
    expect(() => bootstrapModules(parseModulesDep(DEP_612), new Set())).toThrow(/neither a module nor a built-in named virtio_pci/);
  });

  it('detects dependency cycles and dangling dependencies', () => {
    expect(() => bootstrapModules(parseModulesDep('a.ko: b.ko\nb.ko: a.ko\n'), new Set(), ['a'])).toThrow(/cycle/);
    expect(() => bootstrapModules(parseModulesDep('a.ko: c.ko\n'), new Set(), ['a'])).toThrow(/a depends on c/);
  });
});

describe('bootstrap closure of the installed kernels', async () => {
  const { listInstalledKernels } = await import('../../vm/kernels.js');
  const { readFileSync, existsSync } = await import('node:fs');
  const kernels = listInstalledKernels();
  it.skipIf(kernels.length === 0)('includes 9p and its virtio transport for every installed kernel', () => {
    for (const k of kernels) {
      const builtinPath = `${k.modulesDir}/modules.builtin`;
      const mods = bootstrapModules(
        parseModulesDep(readFileSync(`${k.modulesDir}/modules.dep`, 'utf8')),
        parseModulesBuiltin(existsSync(builtinPath) ? readFileSync(builtinPath, 'utf8') : ''),
      ).map((m) => m.name);
      expect(mods, k.release).toContain('9p');
      expect(mods, k.release).toContain('9pnet_virtio');
    }
  });
});
