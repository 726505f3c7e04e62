// dehumanize_number(3) from NetBSD's libc (lib/libc/gen/dehumanize_number.c 1.8): what `modload -i`
// uses to read an integer. strtoll base 10 (leading space and a sign allowed), optionally one last
// letter b/k/m/g (×1, ×1024, ×1024², ×1024³, any case); anything else after the digits is EINVAL,
// a value outside int64 ERANGE. Faithful to its corners: a lone suffix ("k") is 0, like the C code.
export type Dehumanized = { value: bigint } | { error: 'EINVAL' | 'ERANGE' };

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const MULTIPLIERS: Record<string, bigint> = { b: 1n, k: 1024n, m: 1024n ** 2n, g: 1024n ** 3n };

export function dehumanizeNumber(str: string): Dehumanized {
  if (str.length === 0) return { error: 'EINVAL' };
  const unit = str[str.length - 1]!;
  let multiplier = 1n;
  let end = str.length; // where the number must stop (the suffix, or the end)
  if (/[A-Za-z]/.test(unit)) {
    const m = MULTIPLIERS[unit.toLowerCase()];
    if (m === undefined) return { error: 'EINVAL' };
    multiplier = m;
    end = str.length - 1;
  }
  // strtoll(str, &ep, 10): whitespace, sign, digits; ep = str when there are no digits.
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)/.exec(str);
  const ep = m ? m[0].length : 0;
  if (ep !== end && ep !== str.length) return { error: 'EINVAL' };
  if (!m) return { value: 0n };
  let v = BigInt(m[2]!) * (m[1] === '-' ? -1n : 1n);
  if (v > INT64_MAX || v < INT64_MIN) return { error: 'ERANGE' }; // strtoll clamped and set ERANGE
  v *= multiplier;
  if (v > INT64_MAX || v < INT64_MIN) return { error: 'ERANGE' };
  return { value: v };
}
