// Issue #16: a failure that is not a system call's errno (a Node argument error, a bug) is never turned
// into a made-up -5 (EIO): it reaches the caller as a KernmodError that keeps the real cause. node:fs is
// stubbed for one sentinel path only, to make such a failure happen; everything else is the real thing.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

const SENTINEL = '/nonexistent/kernmod-no-errno.ko';
const boom = () => Object.assign(new Error('not an errno failure'), { code: 'ERR_KERNMOD_TEST_NO_ERRNO' });

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  return {
    ...fs,
    openSync: (path: unknown, ...rest: unknown[]) => {
      if (path === SENTINEL) throw boom();
      return (fs.openSync as (...a: unknown[]) => number)(path, ...rest);
    },
  };
});
vi.mock('node:fs/promises', async (importOriginal) => {
  const fsp = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...fsp,
    open: (path: unknown, ...rest: unknown[]) =>
      path === SENTINEL ? Promise.reject(boom()) : (fsp.open as (...a: unknown[]) => unknown)(path, ...rest),
  };
});

const { createFfiBackend } = await import('../../lib/backend/ffi.js');
const { bind } = await import('../../lib/kernmod.js');
const { setParameter, setParameterSync } = await import('../../lib/linux/parameters.js');

const cause = expect.objectContaining({ code: 'ERR_KERNMOD_TEST_NO_ERRNO' });

describe('ffi backend: an open failure without an errno', () => {
  it('is a KernmodError with the cause, not EIO (async and sync)', async () => {
    const km = bind(createFfiBackend());
    const check = (e: unknown) => {
      expect(e).toMatchObject({ name: 'KernmodError', code: 'ERR_KERNMOD_TEST_NO_ERRNO', cause });
      expect((e as { errno?: number }).errno).not.toBe(-5);
    };
    check(
      await km.loadModule(SENTINEL).then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    let err: unknown;
    try {
      km.loadModuleSync(SENTINEL);
    } catch (e) {
      err = e;
    }
    check(err);
  });
});

describe('setParameter: a failure without an errno', () => {
  const root = mkdtempSync(join(tmpdir(), 'kernmod-hardening-params-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'sys/module/m/parameters'), { recursive: true });
  writeFileSync(join(root, 'sys/module/m/parameters/p'), '1\n');

  it('keeps its code and cause, with no EIO description for a hint', async () => {
    // A NUL in the sysfs root: node:fs refuses the path with ERR_INVALID_ARG_VALUE, which has no errno.
    const opts = { sysRoot: `${root}\0` };
    const expected = {
      name: 'KernmodError',
      code: 'ERR_INVALID_ARG_VALUE',
      cause: expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    };
    const async = await setParameter('m', 'p', 2, opts).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(async).toMatchObject(expected);
    expect((async as { hint?: string }).hint).not.toBe('Input/output error');
    expect(() => setParameterSync('m', 'p', 2, opts)).toThrow(expect.objectContaining(expected));
  });
});
