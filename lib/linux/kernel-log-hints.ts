// What the kernel's own lines say about a load or unload: the warnings a user must see on success, and
// a hint naming the exact cause on failure, in place of the list of possible causes for an errno.
// Pure functions over the records of one call (lib/linux/kmsg.ts recordsFor); the exporter of a missing
// symbol is looked up through a function the caller passes (modules.symbols of the running kernel).
import type { KernelLogEntry } from './kmsg.js';

export type KernelWarningKind = 'unknown-parameter' | 'signature-not-verified' | 'taint';

/** A kernel line a user must see even though the call succeeded. */
export interface KernelWarning {
  kind: KernelWarningKind;
  /** The kernel's line, as logged. */
  message: string;
  /** For 'unknown-parameter': the parameter the kernel ignored. */
  parameter?: string;
}

const UNKNOWN_PARAMETER = /: unknown parameter '([^']*)' ignored$/;
const SIGNATURE_NOT_VERIFIED = /: module verification failed: /;
// "loading out-of-tree module taints kernel.", "module license 'X' taints kernel.",
// "bad vermagic: kernel tainted.", "no symbol version for X: kernel tainted." ...
const TAINT = /taints? kernel|kernel tainted|tainting kernel/;

/** The warnings among a call's lines: unknown parameters ignored, signature not verified, taint. */
export function kernelWarnings(records: readonly KernelLogEntry[]): KernelWarning[] {
  const out: KernelWarning[] = [];
  for (const r of records) {
    const unknown = UNKNOWN_PARAMETER.exec(r.message);
    if (unknown) out.push({ kind: 'unknown-parameter', message: r.message, parameter: unknown[1]! });
    else if (SIGNATURE_NOT_VERIFIED.test(r.message)) out.push({ kind: 'signature-not-verified', message: r.message });
    else if (TAINT.test(r.message)) out.push({ kind: 'taint', message: r.message });
  }
  return out;
}

const UNKNOWN_SYMBOL = /^(\S+): Unknown symbol (\S+) \(err (-?\d+)\)$/;
const INVALID_PARAMETER = /^(\S+): `(.*)' (invalid|too large) for parameter `([^']*)'$/;
const UNKNOWN_PARAMETER_ERROR = /^(\S+): Unknown parameter `([^']*)'$/;
const SYMBOL_VERSION = /^(\S+): disagrees about version of symbol (\S+)$/;
const NO_SYMBOL_VERSION = /^(\S+): no symbol version for (\S+)$/;
const VERMAGIC = /^(\S+): version magic '(.*)' should be '(.*)'$/;

/** How a hint finds the modules that export a symbol (modules.symbols); [] when unknown. */
export type SymbolOwners = (symbol: string) => string[];

function quoteList(items: string[], max = 5): string {
  const shown = items.slice(0, max).join(', ');
  return items.length > max ? `${shown} and ${items.length - max} more` : shown;
}

function unique(items: string[]): string[] {
  return [...new Set(items)];
}

/** The missing symbols of a call's `Unknown symbol X (err -2)` lines, in log order. */
export function unknownSymbols(records: readonly KernelLogEntry[]): string[] {
  return unique(records.map((r) => UNKNOWN_SYMBOL.exec(r.message)?.[2]).filter((s): s is string => s !== undefined));
}

function symbolHint(module: string, symbols: string[], owners: SymbolOwners | undefined): string {
  const exporters = owners ? unique(symbols.flatMap((s) => owners(s))).filter((m) => m !== module) : [];
  const what = `unknown symbol${symbols.length === 1 ? '' : `s (${symbols.length})`} in ${module}: ${quoteList(symbols)}`;
  if (exporters.length === 0)
    return `${what}; load the module that exports ${symbols.length === 1 ? 'it' : 'them'} first (modules.symbols names none)`;
  return (
    `${what}, exported by ${quoteList(exporters)}: load ${exporters.length === 1 ? 'it' : 'them'} ` +
    `first, or load ${module} with probe() / kernmod modprobe ${module}, which loads its dependencies`
  );
}

/**
 * A hint from a failed call's kernel lines for `code` (the errno name), or undefined when they say
 * nothing more than the errno's own hint (`errnoHint`). Lines that name the cause replace that hint
 * (a missing symbol, a parameter value, a symbol version or vermagic mismatch); other lines of the
 * module — its init's own words, a decompression failure — are quoted before it.
 */
export function hintFromKernelLog(
  code: string,
  records: readonly KernelLogEntry[],
  module: string | undefined,
  owners?: SymbolOwners,
  errnoHint?: string,
): string | undefined {
  if (records.length === 0) return undefined;
  const name = module ?? records.map((r) => /^(\S+): /.exec(r.message)?.[1]).find((n) => n !== undefined) ?? 'the module';
  const symbols = unknownSymbols(records);
  if (code === 'ENOENT' && symbols.length > 0) return symbolHint(name, symbols, owners);
  for (const r of records) {
    const bad = INVALID_PARAMETER.exec(r.message);
    if (bad) {
      const what = bad[3] === 'too large' ? 'parameter value too large' : 'invalid parameter value';
      return `${what}: '${bad[2]}' for parameter ${bad[4]} of ${bad[1]} (see modinfo -p ${bad[1]} for its type)`;
    }
    const unknownParam = UNKNOWN_PARAMETER_ERROR.exec(r.message);
    if (unknownParam) return `${unknownParam[1]} has no parameter ${unknownParam[2]} (see modinfo -p ${unknownParam[1]})`;
  }
  const versions = unique(records.map((r) => SYMBOL_VERSION.exec(r.message)?.[2]).filter((s): s is string => s !== undefined));
  if (versions.length > 0) {
    return (
      `${name} was built against another kernel: its version of ${quoteList(versions)} disagrees with the ` +
      `running kernel's; rebuild it against this kernel's headers ` +
      `(or ignoreModversions, which taints the kernel)`
    );
  }
  for (const r of records) {
    const magic = VERMAGIC.exec(r.message);
    if (magic) {
      return (
        `${magic[1]} was built for another kernel: its vermagic is '${magic[2]}', this kernel's is ` +
        `'${magic[3]}'; rebuild it against this kernel (or ignoreVermagic, which taints the kernel)`
      );
    }
    const noVersion = NO_SYMBOL_VERSION.exec(r.message);
    if (noVersion) {
      return (
        `${noVersion[1]} has no symbol version for ${noVersion[2]} while this kernel checks them ` +
        `(CONFIG_MODVERSIONS): rebuild it against this kernel's headers`
      );
    }
  }
  // The module's own words (its init's error lines), leaving out the warnings that do not explain a failure.
  const said = records.filter((r) => kernelWarnings([r]).length === 0);
  if (said.length === 0) return undefined;
  const severe = said.filter((r) => LEVEL_RANK[r.level] <= LEVEL_RANK.warn);
  const quoted = (severe.length > 0 ? severe : said).slice(-3);
  const says = `the kernel log says: ${quoted.map((r) => `"${r.message}"`).join('; ')}`;
  return errnoHint === undefined ? says : `${says} — ${errnoHint}`;
}

const LEVEL_RANK: Record<KernelLogEntry['level'], number> = { emerg: 0, alert: 1, crit: 2, err: 3, warn: 4, notice: 5, info: 6, debug: 7 };
