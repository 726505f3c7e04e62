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
import { getoptLong, NETBSD } from './getopt.js';
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

function strerror(code: string): string {
  return netbsdErrnoInfo(netbsdErrnoNumber(code) ?? 0).description;
}

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
  if ('error' in r) throw new ToolError(`Invalid integer value \`${value}': ${strerror(r.error)}`); // err(3) adds strerror
  return r.value;
}

function set(d: Record<string, PropValue>, key: string, value: PropValue): void {
  Object.defineProperty(d, key, { value, enumerable: true, writable: true, configurable: true });
}

export async function modloadCommand(argv: string[], io: Io, deps: NetbsdCommandDeps = {}): Promise<number> {
  const g = getoptLong(argv, MODLOAD_OPTIONS, NETBSD);
  const has = (key: string) => g.options.some((o) => o.key === key);
  if (has('help')) {
    io.out(MODLOAD_USAGE + KERNMOD_OPTIONS);
    return 0;
  }
  if (g.error) {
    io.err(`modload: ${g.error}\n${MODLOAD_USAGE}`);
    return 1;
  }
  const json = has('json');
  const props: Record<string, PropValue> = {};
  const deletes: string[] = [];
  let force = false;
  let noProp = false;
  let print = false;
  let mergeFile: string | undefined;
  try {
    for (const { key: opt, value: arg } of g.options) {
      if (opt === 'json' || opt === 'help') continue;
      if (opt === 'P') noProp = true;
      else if (opt === 'f') force = true;
      else if (opt === 'p') print = true;
      else if (opt === 'd') deletes.push(arg!);
      else if (opt === 'm') mergeFile = arg!;
      else {
        const [name, value] = splitParam(arg!);
        set(props, name, opt === 'b' ? boolValue(value) : opt === 'i' ? intValue(value) : value);
      }
    }
    if (print) {
      let dict: PropDict = props;
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
        for (const k of deletes) delete merged[k];
        dict = merged;
      }
      const text = externalizeProps(dict, { maxBytes: Infinity });
      if (json) printJson(io, { ok: true, props: text });
      else io.out(text);
      return 0;
    }
  } catch (e) {
    return fail(io, e, json);
  }
  if (g.operands.length !== 1) {
    io.err(MODLOAD_USAGE);
    return 1;
  }
  const module = g.operands[0]!;
  try {
    const netbsd = deps.netbsd ?? withBackend('native');
    const result = await netbsd.loadModule(module, { props, force, noProp });
    if (json) printJson(io, { ok: true, result });
    return 0;
  } catch (e) {
    return fail(io, e, json);
  }
}

/** modload's err(EXIT_FAILURE, NULL): `modload: File exists`, then kernmod's hint line. */
function fail(io: Io, e: unknown, json: boolean): number {
  reportToolError(io, 'modload', undefined, e, json);
  return 1;
}

/**
 * Prints a failure the way NetBSD's tools do with err(3): `tool: [subject: ]strerror`, or for our own
 * input checks and tool messages the message itself; then `tool: hint: ...`. With --json, the error.
 */
export function reportToolError(io: Io, tool: string, subject: string | undefined, e: unknown, json: boolean): void {
  if (json) {
    printErrorJson(io, e);
    return;
  }
  let text: string;
  if (e instanceof KernmodError && e.errno !== undefined && e.syscall === 'modctl') {
    text = netbsdErrnoInfo(e.errno).description;
  } else {
    text = e instanceof Error ? e.message : String(e);
  }
  io.err(`${tool}: ${subject === undefined ? '' : `${subject}: `}${text}\n`);
  if (e instanceof KernmodError && e.hint) io.err(`${tool}: hint: ${e.hint}\n`);
}
