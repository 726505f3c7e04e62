// Sources from callers (issue #16 items 4 and 9): a file: URL or a path becomes the path the kernel
// sees whole, or a typed error before any system call; a failure that is not an errno keeps its cause.
import { describe, expect, it } from 'vitest';
import { createFakeBackend, FakeKernel } from '../../lib/backend/fake.js';
import { bind } from '../../lib/kernmod.js';
import { sourcePath } from '../../lib/source.js';

describe('sourcePath: one validator for a path or file: URL from a caller', () => {
  it('a NUL (also %00 in a URL) is refused, never cut short', () => {
    expect(() => sourcePath(new URL('file:///tmp/evil%00/lib/modules/x/loop.ko'))).toThrow(
      expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_SOURCE', phase: 'validate', path: '/tmp/evil\0/lib/modules/x/loop.ko' }),
    );
    expect(() => sourcePath('/tmp/evil\0/loop.ko')).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_SOURCE' }));
  });

  it('file://host/..., an encoded / and a non-file URL are typed errors that keep the cause', () => {
    for (const url of ['file://host/x.ko', 'file:///a%2fb.ko', 'https://example.invalid/x.ko']) {
      let err: unknown;
      try {
        sourcePath(new URL(url));
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ name: 'KernmodError', code: 'ERR_KERNMOD_INVALID_SOURCE', phase: 'validate' });
    }
    expect(() => sourcePath(new URL('file://host/x.ko'))).toThrow(
      expect.objectContaining({ cause: expect.objectContaining({ code: 'ERR_INVALID_FILE_URL_HOST' }) }),
    );
  });

  it('an ordinary path or URL comes back as the path', () => {
    expect(sourcePath('/lib/modules/x/loop.ko')).toBe('/lib/modules/x/loop.ko');
    expect(sourcePath(new URL('file:///lib/modules/x/a%20b.ko'))).toBe('/lib/modules/x/a b.ko');
    expect(() => sourcePath('')).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_SOURCE' }));
  });
});

describe('loadModule: bad sources are KernmodErrors and change nothing', () => {
  const setup = () => {
    const kernel = new FakeKernel();
    return { kernel, km: bind(createFakeBackend(kernel)) };
  };

  it('a file: URL with %00 is refused before any system call (async and sync)', async () => {
    const { kernel, km } = setup();
    const url = new URL('file:///tmp/evil%00/lib/modules/6.1/loop.ko');
    await expect(km.loadModule(url)).rejects.toMatchObject({
      code: 'ERR_KERNMOD_INVALID_SOURCE',
      path: '/tmp/evil\0/lib/modules/6.1/loop.ko',
    });
    expect(() => km.loadModuleSync(url)).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_SOURCE' }));
    expect(kernel.calls).toHaveLength(0);
  });

  it('file://host/ and %2f URLs are typed errors', async () => {
    const { km } = setup();
    await expect(km.loadModule(new URL('file://host/x.ko'))).rejects.toMatchObject({
      name: 'KernmodError',
      code: 'ERR_KERNMOD_INVALID_SOURCE',
    });
    await expect(km.loadModule(new URL('file:///a%2fb.ko'))).rejects.toMatchObject({
      name: 'KernmodError',
      code: 'ERR_KERNMOD_INVALID_SOURCE',
    });
  });

  it('an fd that is no int32 is invalid input, not EIO', async () => {
    const { kernel, km } = setup();
    await expect(km.loadModule({ fd: 2 ** 31 })).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_SOURCE', phase: 'validate' });
    expect(() => km.loadModuleSync({ fd: 2 ** 31 })).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_SOURCE' }));
    expect(kernel.calls).toHaveLength(0);
  });

  it('a closed fd is EBADF from the read, with the real errno', async () => {
    const { km } = setup();
    await expect(km.loadModule({ fd: 1_000_000 })).rejects.toMatchObject({ name: 'KernmodError', code: 'EBADF', syscall: 'read' });
  });
});
