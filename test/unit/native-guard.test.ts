// The native backend's guard encoding (lib/backend/native.ts): pure, no addon call.
import { describe, expect, it } from 'vitest';
import { encodeGuard } from '../../lib/backend/native.js';
import { COMPRESSION_MAGICS } from '../../lib/compress/detect.js';

describe('encodeGuard', () => {
  it('length-prefixes each prefix in one Uint8Array', () => {
    expect([...encodeGuard([Uint8Array.of(0x1f, 0x8b), Uint8Array.of(7)])]).toEqual([2, 0x1f, 0x8b, 1, 7]);
  });
  it("encodes the package's compression magics once (the load policy's guard) and the same as a copy", () => {
    const enc = encodeGuard(COMPRESSION_MAGICS);
    expect(encodeGuard(COMPRESSION_MAGICS)).toBe(enc);
    expect(Object.isFrozen(COMPRESSION_MAGICS)).toBe(true);
    expect([...encodeGuard(COMPRESSION_MAGICS.map((m) => m.slice()))]).toEqual([...enc]);
  });
  it("encodes a caller's guard as its bytes are at each call", () => {
    const guard = [Uint8Array.of(1, 2)];
    expect([...encodeGuard(guard)]).toEqual([2, 1, 2]);
    guard[0]![1] = 9;
    expect([...encodeGuard(guard)]).toEqual([2, 1, 9]);
  });
  it('rejects bad guards as the other backends do', () => {
    expect(() => encodeGuard([new Uint8Array(0)])).toThrow(RangeError);
    expect(() => encodeGuard([new Uint8Array(17)])).toThrow(RangeError);
    expect(() => encodeGuard(['x' as never])).toThrow(TypeError);
  });
});
