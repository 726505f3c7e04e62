// Module parameters: building the string init_module/finit_module take, and reading one back, by the
// kernel's own rules (lib/cmdline.c next_arg, kernel/params.c parse_args):
//  - tokens are separated by isspace() bytes — space \t \n \v \f \r and 0xA0 in the kernel's ctype;
//  - `"` toggles quoting and cannot be escaped, so a value can never contain one;
//  - `name` alone means "no value" (accepted by bool params only), names compare with - equal to _;
//  - arrays are comma-separated with no escape for a comma.
// Everything is validated before any system call; a bad parameter is a KernmodError, never a surprise
// from the kernel.
import { invalidInput, type KernmodError, type KernmodErrorFields } from './errors.js';

export type ParamScalar = string | number | bigint | boolean;
export type ParamValue = ParamScalar | readonly ParamScalar[];
type ParamsObject = Readonly<Record<string, ParamValue | undefined>>;
/** What the library accepts: an object, a Map, [name, value] pairs, or an already-built string. */
export type ParamsInput = ParamsObject | ReadonlyMap<string, ParamValue> | ReadonlyArray<readonly [string, ParamValue]> | string;

export interface ParsedParam {
  name: string;
  /** null when the token had no `=` (a bare bool). */
  value: string | null;
}

const NAME = /^[A-Za-z0-9_-]+$/;

/** The kernel's isspace(): its ctype table marks 0xA0 (Latin-1 NBSP) as space too. */
function isKernelSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d) || byte === 0xa0;
}

function skipSpaces(s: string): string {
  let k = 0;
  while (k < s.length && isKernelSpace(s.charCodeAt(k))) k++;
  return s.slice(k);
}

function paramError(message: string, name?: string): KernmodError {
  return invalidInput('ERR_KERNMOD_INVALID_PARAMS', message, name === undefined ? {} : { hint: `parameter ${name}` });
}

export function normalizeParamName(name: string): string {
  return name.replaceAll('-', '_');
}

/** `name` if the kernel can take it as a parameter name, else ERR_KERNMOD_INVALID_PARAMS with `extra`. */
export function checkParamName(name: unknown, extra: Partial<KernmodErrorFields> = {}): string {
  if (typeof name === 'string' && NAME.test(name)) return name;
  const message = `invalid parameter name ${JSON.stringify(name)}: names may use only A-Z a-z 0-9 _ -`;
  throw invalidInput('ERR_KERNMOD_INVALID_PARAMS', message, extra);
}

function checkName(name: string, seen: Set<string>): void {
  checkParamName(name);
  const key = normalizeParamName(name);
  if (seen.has(key)) {
    throw paramError(
      `duplicate parameter ${JSON.stringify(name)} (the kernel treats - and _ alike, and the later value would silently win)`,
    );
  }
  seen.add(key);
}

function scalarText(name: string, v: ParamScalar, inArray: boolean): string {
  let text: string;
  if (typeof v === 'boolean') text = v ? 'Y' : 'N';
  else if (typeof v === 'bigint') text = v.toString();
  else if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw paramError(`parameter ${name}: ${v} is not a finite number`, name);
    if (!Number.isInteger(v)) {
      throw paramError(
        `parameter ${name}: ${v} is not an integer (kernel number parameters are integers; pass a string if ` +
          `this parameter's own type takes other text)`,
        name,
      );
    }
    if (!Number.isSafeInteger(v)) throw paramError(`parameter ${name}: ${v} is beyond 2^53; pass a bigint so no digit is lost`, name);
    text = String(v);
  } else if (typeof v === 'string') text = v;
  else throw paramError(`parameter ${name}: unsupported value type ${v === null ? 'null' : typeof v}`, name);

  if (text.includes('"')) throw paramError(`parameter ${name}: values cannot contain " (the kernel has no escape for it)`, name);
  if (text.includes('\0')) throw paramError(`parameter ${name}: values cannot contain NUL`, name);
  if (text.includes('\n')) throw paramError(`parameter ${name}: values cannot contain a newline`, name);
  if (inArray && text.includes(','))
    throw paramError(`parameter ${name}: array elements cannot contain a comma (the kernel splits arrays on commas)`, name);
  return text;
}

function needsQuotes(value: string): boolean {
  for (const byte of Buffer.from(value, 'utf8')) if (isKernelSpace(byte)) return true;
  return false;
}

function entriesOf(input: Exclude<ParamsInput, string>): Array<readonly [string, ParamValue | undefined]> {
  if (input instanceof Map) return [...input.entries()];
  if (Array.isArray(input)) return input as Array<readonly [string, ParamValue]>;
  if (input === null || typeof input !== 'object') throw paramError('params must be an object, a Map, [name, value] pairs or a string');
  return Object.entries(input as ParamsObject);
}

/**
 * Builds the parameter string: `name=value` joined by spaces; booleans as Y/N (accepted by bool and
 * invbool alike), arrays comma-joined, values with whitespace double-quoted. `undefined` values are
 * skipped, like JSON.stringify does.
 */
export function encodeParams(input: ParamsInput): string {
  if (typeof input === 'string') return validateParamString(input);
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const [name, value] of entriesOf(input)) {
    if (value === undefined) continue;
    checkName(name, seen);
    let text: string;
    if (Array.isArray(value)) {
      if (value.length === 0) throw paramError(`parameter ${name}: an array needs at least one element (the kernel requires one)`, name);
      text = value.map((v: ParamScalar) => scalarText(name, v, true)).join(',');
    } else {
      text = scalarText(name, value as ParamScalar, false);
    }
    parts.push(needsQuotes(text) ? `${name}="${text}"` : `${name}=${text}`);
  }
  return parts.join(' ');
}

/**
 * A TypeScript port of the kernel's next_arg() (lib/cmdline.c), over the string's UTF-8 bytes (held as
 * Latin-1 code units, one per byte). Returns the token's name, value (null without `=`) and the rest.
 */
export function nextArg(args: string): { param: string; value: string | null; rest: string } {
  let i = 0;
  let equals = 0;
  let inQuote = false;
  let quoted = false;
  if (args[0] === '"') {
    args = args.slice(1);
    inQuote = true;
    quoted = true;
  }
  for (i = 0; i < args.length; i++) {
    if (isKernelSpace(args.charCodeAt(i)) && !inQuote) break;
    if (equals === 0 && args[i] === '=') equals = i; // as in C, an '=' at index 0 is not a separator
    if (args[i] === '"') inQuote = !inQuote;
  }
  // The C code edits the buffer in place (NULs at `equals`, at a closing quote, at the separator).
  const token = args.slice(0, i);
  let valueStart = equals + 1;
  let end = i; // C: args[i-1] = '\0' truncations
  if (equals && token[valueStart] === '"') {
    valueStart++;
    if (token[i - 1] === '"') end = i - 1;
  }
  if (quoted && token[i - 1] === '"') end = i - 1;
  const kept = token.slice(0, end);
  const param = equals ? kept.slice(0, equals) : kept;
  const value = equals ? kept.slice(valueStart) : null;
  const rest = skipSpaces(args.slice(i + 1));
  return { param, value, rest };
}

function toBytes(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}
function fromBytes(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}

/** Splits a parameter string exactly as the kernel's parse_args() would, stopping at a bare `--`. */
export function parseParams(str: string): ParsedParam[] {
  let args = skipSpaces(toBytes(str));
  const out: ParsedParam[] = [];
  while (args.length > 0) {
    const { param, value, rest } = nextArg(args);
    if (value === null && param === '--') break;
    out.push({ name: fromBytes(param), value: value === null ? null : fromBytes(value) });
    args = rest;
  }
  return out;
}

/**
 * A parameter string in which a name given again replaces its earlier token, as the kernel's later
 * value would (modprobe.d `options` lines, then the caller's): what loadModule accepts, since it
 * refuses a repeated name. Returned unchanged when no name repeats; else the tokens kept, as written,
 * joined by single spaces.
 */
export function overrideParams(str: string): string {
  let args = skipSpaces(toBytes(str));
  const tokens: Array<{ key: string; raw: string }> = [];
  while (args.length > 0) {
    const { param, value, rest } = nextArg(args);
    let end = args.length - rest.length;
    while (end > 0 && isKernelSpace(args.charCodeAt(end - 1))) end--;
    tokens.push({ key: value === null && param === '--' ? '' : normalizeParamName(param), raw: args.slice(0, end) });
    args = rest;
  }
  const last = new Map<string, number>();
  tokens.forEach((t, i) => t.key !== '' && last.set(t.key, i));
  if (last.size === tokens.filter((t) => t.key !== '').length) return str;
  return fromBytes(
    tokens
      .filter((t, i) => t.key === '' || last.get(t.key) === i)
      .map((t) => t.raw)
      .join(' '),
  );
}

/**
 * Validates a caller-built parameter string and returns it unchanged: the same rules as encodeParams
 * (names, duplicates, no NUL), balanced quotes, and no bare `--` (the kernel would silently ignore
 * everything after it).
 */
export function validateParamString(str: string): string {
  if (str.includes('\0')) throw paramError('the parameter string contains NUL');
  let quotes = 0;
  for (const ch of str) if (ch === '"') quotes++;
  if (quotes % 2 !== 0) throw paramError(`unbalanced " in parameter string ${JSON.stringify(str)}`);
  const seen = new Set<string>();
  let args = skipSpaces(toBytes(str));
  while (args.length > 0) {
    const { param, value, rest } = nextArg(args);
    if (value === null && param === '--') {
      throw paramError('a bare -- in the parameter string: the kernel ignores every parameter after it');
    }
    checkName(fromBytes(param), seen);
    if (value?.includes('"')) {
      throw paramError(`parameter ${fromBytes(param)}: a " inside a value cannot be passed to the kernel`, fromBytes(param));
    }
    args = rest;
  }
  return str;
}
