import { describe, expect, it } from 'vitest';
import { loadBackend } from '../../lib/backend/select.js';
import { createFakeBackend } from '../../lib/backend/fake.js';
import * as kernmod from '../../lib/index.js';

const broken = (msg: string) => () => {
  throw new Error(msg);
};

describe('backend selection', () => {
  it('prefers the native addon, and kernmod.backend says which is active', () => {
    expect(loadBackend(undefined).name).toBe('native'); // the addon is built on this host
    expect(kernmod.backend).toBe('native');
    expect(loadBackend('ffi').name).toBe('ffi');
  });

  it('falls back to ffi when the addon is missing', () => {
    const b = loadBackend('auto', { native: broken('Could not locate the bindings file'), ffi: () => createFakeBackend() });
    expect(b.name).toBe('fake');
  });

  it('when every backend fails, one error lists each reason and its fix', () => {
    let err: unknown;
    try {
      loadBackend('auto', { native: broken('Could not locate the bindings file'), ffi: broken("Cannot find module 'ffi-rs'") });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_KERNMOD_NO_BACKEND', phase: 'backend' });
    const msg = (err as Error).message;
    expect(msg).toContain('- native: Could not locate the bindings file');
    expect(msg).toContain('npm run build:native');
    expect(msg).toContain("- ffi: Cannot find module 'ffi-rs'");
    expect(msg).toContain('npm install ffi-rs');
  });

  it('KERNMOD_BACKEND=native fails loudly instead of falling back', () => {
    expect(() => loadBackend('native', { native: broken('not built'), ffi: () => createFakeBackend() })).toThrow(
      /KERNMOD_BACKEND=native[\s\S]*not built/,
    );
  });

  it('rejects an unknown KERNMOD_BACKEND value', () => {
    expect(() => loadBackend('wasm')).toThrow(/not a backend: use native, ffi or auto/);
  });
});
