// Issue #16: every API that takes a module path or file: URL converts it with sourcePath (lib/source.ts),
// so file://host/, an encoded '/' and a NUL are ERR_KERNMOD_INVALID_SOURCE — never a TypeError from
// node:url or node:fs — and nothing is opened or sent to a kernel.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { modinfo, modinfoSync } from '../../lib/elf/modinfo.js';
import { createFakeNetbsdBackend, FakeNetbsdKernel } from '../../lib/netbsd/fake.js';
import { bind } from '../../lib/netbsd/index.js';

const BAD_URLS = ['file://host/x.ko', 'file:///a%2fb.ko', 'file:///tmp/evil%00/x.ko'];
const typed = { name: 'KernmodError', code: 'ERR_KERNMOD_INVALID_SOURCE', phase: 'validate' };

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('modinfo: a source from a caller goes through sourcePath', () => {
  it('file://host/, %2f and %00 URLs are typed errors (async and sync)', async () => {
    for (const url of BAD_URLS) {
      await expect(modinfo(new URL(url))).rejects.toMatchObject(typed);
      expect(thrown(() => modinfoSync(new URL(url)))).toMatchObject(typed);
    }
  });

  it("a path with a NUL is a typed error, not node:fs's TypeError", async () => {
    await expect(modinfo('/tmp/evil\0/x.ko')).rejects.toMatchObject(typed);
    expect(thrown(() => modinfoSync('/tmp/evil\0/x.ko'))).toMatchObject(typed);
  });
});

describe('netbsd.loadModule: a file: URL goes through sourcePath', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kernmod-hardening-nb-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'mymod.kmod'), FakeNetbsdKernel.image({ name: 'mymod' }));

  it('file://host/, %2f and %00 URLs are refused before any modctl call', async () => {
    const kernel = new FakeNetbsdKernel({ modulePath: dir });
    const nb = bind(createFakeNetbsdBackend(kernel));
    for (const url of BAD_URLS) {
      await expect(nb.loadModule(new URL(url))).rejects.toMatchObject(typed);
      expect(thrown(() => nb.loadModuleSync(new URL(url)))).toMatchObject(typed);
    }
    expect(kernel.calls).toEqual([]);
  });
});
