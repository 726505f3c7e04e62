// `kernmod modload [-fP] [-b var=boolean] [-i var=integer] [-s var=string] module`
// `kernmod modload -p [-b var=boolean] [-d var] [-i var=integer] [-m plist] [-s var=string]`
// NetBSD's modload(8) (sbin/modload/main.c): the same options, the same plist, the same messages
// (`modload: File exists`), plus a `modload: hint:` line and --json.
import { readRegularFileSync } from '../fs-read.js';
import { KernmodError } from '../errors.js';
import { dehumanizeNumber } from '../netbsd/dehumanize.js';
import { netbsdErrnoInfo, netbsdErrnoNumber } from '../netbsd/errno-table.js';
import { withBackend, type NetbsdKernmod } from '../netbsd/index.js';
import { externalizeProps, internalizeProps, type PropDict, type PropValue } from '../netbsd/plist.js';
import { getoptLong, NETBSD, type OptionSpec } from './getopt.js';
import { MODLOAD_OPTIONS } from './options.js';
import { printErrorJson, printJson, type Io } from './output.js';

/** -m's property list: far beyond any real one (the kernel takes 4 KiB of properties). */
const MERGE_FILE_MAX = 16 * 1024 * 1024;

export const MODLOAD_USAGE =
  'Usage: modload [-fP] [-b var=boolean] [-i var=integer] [-s var=string] module\n' +
  '       modload -p [-b var=boolean] [-d var] [-i var=integer] [-m plist]\n' +
  '               [-s var=string]\n';

const KERNMOD_OPTIONS = '       --json  print the result or the error as JSON\n';

export interface NetbsdCommandDeps {
  /** The NetBSD API to use; by default the native backend (NetBSD only). */
  netbsd?: NetbsdKernmod;
}

/** A NetBSD tool's own error line (err(3)/errx(3) format): `modload: message`. */
class ToolError extends Error {}

/** parse_param(): split at the first `=`. */
function splitParam(arg: string): [string, string] {
  const eq = arg.indexOf('=');
  if (eq === -1) throw new ToolError(`Invalid parameter \`${arg}'`);
  return [arg.slice(0, eq), arg.slice(eq + 1)];
}

/** parse_bool_param(): 1/true/yes and 0/false/no, any case. */
function boolValue(value: string): boolean {
  const v = value.toLowerCase();
  if (v === '1' || v === 'true' || v === 'yes') return true;
  if (v === '0' || v === 'false' || v === 'no') return false;
  throw new ToolError(`Invalid boolean value \`${value}'`);
}

function intValue(value: string): bigint {
  const r = dehumanizeNumber(value);
  // err(3) adds strerror
  if ('error' in r) throw new ToolError(`Invalid integer value \`${value}': ${netbsdErrnoInfo(netbsdErrnoNumber(r.error)!).description}`);
  return r.value;
}

function set(d: Record<string, PropValue>, key: string, value: PropValue): void {
  Object.defineProperty(d, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * A NetBSD tool's command line (NetBSD getopt): `--help` prints the usage and `help` (exit 0), a bad
 * option getopt's line and the usage (exit 1); otherwise the parse, with the last of some options looked up.
 */
export function parseNetbsdArgs(tool: string, argv: string[], table: readonly OptionSpec[], usage: string, help: string, io: Io) {
  const g = getoptLong(argv, table, NETBSD);
  const last = (...keys: string[]) => g.options.findLast((o) => keys.includes(o.key));
  const has = (key: string) => last(key) !== undefined;
  if (has('help')) {
    io.out(usage + help);
    return 0;
  }
  if (g.error) {
    io.err(`${tool}: ${g.error}\n${usage}`);
    return 1;
  }
  return { options: g.options, operands: g.operands, last, has, json: has('json') };
}

export async function modloadCommand(argv: string[], io: Io, deps: NetbsdCommandDeps = {}): Promise<number> {
  const g = parseNetbsdArgs('modload', argv, MODLOAD_OPTIONS, MODLOAD_USAGE, KERNMOD_OPTIONS, io);
  if (typeof g === 'number') return g;
  const props: Record<string, PropValue> = {};
  try {
    for (const { key, value } of g.options) {
      if (key !== 'b' && key !== 'i' && key !== 's') continue;
      const [name, text] = splitParam(value!);
      set(props, name, key === 'b' ? boolValue(text) : key === 'i' ? intValue(text) : text);
    }
    if (g.has('p')) {
      let dict: PropDict = props;
      const mergeFile = g.last('m')?.value;
      if (mergeFile !== undefined) {
        // -m: merge into an existing plist; -d deletes keys (both only with -p, as in modload).
        let existing: PropDict;
        try {
          // Opened without blocking, read only when regular: a FIFO given to -m must not hang modload.
          existing = internalizeProps(readRegularFileSync(mergeFile, MERGE_FILE_MAX));
        } catch {
          throw new ToolError('Failed to read existing property list');
        }
        const merged: Record<string, PropValue> = { ...existing };
        for (const [k, v] of Object.entries(props)) set(merged, k, v);
        for (const o of g.options) if (o.key === 'd') delete merged[o.value!];
        dict = merged;
      }
      const text = externalizeProps(dict, { maxBytes: Infinity });
      if (g.json) printJson(io, { ok: true, props: text });
      else io.out(text);
      return 0;
    }
    if (g.operands.length !== 1) {
      io.err(MODLOAD_USAGE);
      return 1;
    }
    const netbsd = deps.netbsd ?? withBackend('native');
    const result = await netbsd.loadModule(g.operands[0]!, { props, force: g.has('f'), noProp: g.has('P') });
    if (g.json) printJson(io, { ok: true, result });
    return 0;
  } catch (e) {
    // modload's err(EXIT_FAILURE, NULL): `modload: File exists`, then kernmod's hint line.
    return reportToolError(io, 'modload', undefined, e, g.json);
  }
}

/**
 * Prints a failure the way NetBSD's tools do with err(3): `tool: [subject: ]strerror`, or for our own
 * input checks and tool messages the message itself; then `tool: hint: ...`. With --json, the error.
 * Returns the exit status, 1.
 */
export function reportToolError(io: Io, tool: string, subject: string | undefined, e: unknown, json: boolean): number {
  if (json) {
    printErrorJson(io, e);
    return 1;
  }
  let text: string;
  if (e instanceof KernmodError && e.errno !== undefined && e.syscall === 'modctl') {
    text = netbsdErrnoInfo(e.errno).description;
  } else {
    text = e instanceof Error ? e.message : String(e);
  }
  io.err(`${tool}: ${subject === undefined ? '' : `${subject}: `}${text}\n`);
  if (e instanceof KernmodError && e.hint) io.err(`${tool}: hint: ${e.hint}\n`);
  return 1;
}
