// Module names: kmod's normalisation and the pre-syscall name checks (pure functions, no backend).
import { describe, expect, it } from 'vitest';
import { moduleNameFromPath, normalizeModuleName, validateModuleName } from '../../lib/names.js';

describe('normalizeModuleName / moduleNameFromPath', () => {
  it('maps - to _ and stops at the first dot, as kmod does', () => {
    expect(normalizeModuleName('snd-hda-intel')).toBe('snd_hda_intel');
    expect(normalizeModuleName('nls_utf8')).toBe('nls_utf8');
    expect(normalizeModuleName('a-b.ko.xz')).toBe('a_b');
    expect(normalizeModuleName('-x-.ko')).toBe('_x_');
  });
  it('takes the basename of a path', () => {
    expect(moduleNameFromPath('/lib/modules/6.1/kernel/fs/nls/nls-cp437.ko')).toBe('nls_cp437');
    expect(moduleNameFromPath('kernmod_hello.ko')).toBe('kernmod_hello');
    expect(moduleNameFromPath('/tmp/dir.with.dots/m-1.ko.zst')).toBe('m_1');
  });
});

describe('validateModuleName: the kernel buffer counts UTF-8 bytes and the NUL', () => {
  const LIMIT = 56; // x86_64 MODULE_NAME_LEN
  it('accepts up to limit - 1 bytes, whatever the characters', () => {
    expect(validateModuleName('x'.repeat(55), LIMIT)).toBe('x'.repeat(55));
    expect(validateModuleName('é'.repeat(27), LIMIT)).toBe('é'.repeat(27)); // 54 bytes
    expect(validateModuleName('€'.repeat(18), LIMIT)).toBe('€'.repeat(18)); // 54 bytes, 18 code units
  });
  it('rejects limit bytes or more, counted in UTF-8 even when the string is short in UTF-16', () => {
    expect(() => validateModuleName('x'.repeat(56), LIMIT)).toThrow(expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_NAME' }));
    expect(() => validateModuleName('é'.repeat(28), LIMIT)).toThrow(/is 56 bytes; the kernel's limit is 55/);
    expect(() => validateModuleName('€'.repeat(19), LIMIT)).toThrow(/is 57 bytes/); // 19 code units
    expect(() => validateModuleName('😀'.repeat(14), LIMIT)).toThrow(/is 56 bytes/); // 28 code units (surrogate pairs)
    expect(validateModuleName('😀'.repeat(13) + 'abc', LIMIT)).toBe('😀'.repeat(13) + 'abc'); // 55 bytes
  });
  it('skips the length check when the limit is unknown (0)', () => {
    expect(validateModuleName('x'.repeat(500), 0)).toBe('x'.repeat(500));
  });
  it('rejects empty names, NUL, / and non-strings', () => {
    for (const bad of ['', 'a\0b', 'dir/mod', 42 as unknown as string]) {
      expect(() => validateModuleName(bad, LIMIT)).toThrow(
        expect.objectContaining({ code: 'ERR_KERNMOD_INVALID_NAME', phase: 'validate' }),
      );
    }
  });
});
