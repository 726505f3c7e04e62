// The desired-state spec: module name -> { state, params?, reload? } (or just the state), as JSON or
// YAML. Checking it is pure: every problem is collected, so a bad spec is refused as a whole, listing
// each one, before anything changes.
import { parse as parseYaml } from 'yaml';
import { invalidInput, type KernmodError } from '../errors.js';
import { normalizeModuleName, validateModuleName } from '../names.js';
import { encodeParams, normalizeParamName, parseParams, type ParamValue } from '../params.js';

/**
 * loaded: in the kernel now. installed: loaded now and at every boot (modules-load.d, its params as
 * modprobe.d `options`). unloaded: not in the kernel now. uninstalled: unloaded, and kernmod's
 * persisted files for it removed. blacklisted: a `blacklist` line (alias lookups skip it), unloaded.
 * disabled: `install <name> /bin/false` (nothing can load it by name), unloaded.
 */
export const STATES = ['loaded', 'installed', 'unloaded', 'uninstalled', 'blacklisted', 'disabled'] as const;
export type ModuleStateName = (typeof STATES)[number];

/** What a caller writes for one module. */
export interface ModuleSpecInput {
  state: ModuleStateName;
  /** Parameter values: an object (numbers, booleans as Y/N, arrays comma-joined) or a `a=1 b=2` string. */
  params?: Readonly<Record<string, ParamValue>> | string;
  /** Fix a difference in a read-only parameter by unloading and loading the module again. */
  reload?: boolean;
}
export type SpecInput = Readonly<Record<string, ModuleSpecInput | ModuleStateName>>;

/** One module's checked spec: the kernel's name for it, params as [name, value text] in spec order. */
export interface ModuleSpec {
  module: string;
  state: ModuleStateName;
  params: Array<[string, string]>;
  reload: boolean;
}

/** The states that load the module, and the only ones that take params. */
export const LOADING_STATES: ReadonlySet<ModuleStateName> = new Set(['loaded', 'installed']);

const KEYS = new Set(['state', 'params', 'reload']);

/** Reads spec text: JSON when it parses as JSON, else YAML (a superset for everything JSON says). */
export function parseSpecText(text: string, source = 'spec'): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // not JSON: YAML below
  }
  try {
    return parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (e) {
    throw invalidInput('ERR_KERNMOD_INVALID_SPEC', `${source}: neither JSON nor YAML: ${(e as Error).message.split('\n')[0]}`);
  }
}

function paramsOf(where: string, raw: unknown, problems: string[]): Array<[string, string]> {
  if (raw === undefined || raw === null) return [];
  try {
    if (typeof raw === 'string') {
      return parseParams(encodeParams(raw)).map((p) => [normalizeParamName(p.name), p.value ?? 'Y']);
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      problems.push(`${where}: params must be a mapping of name to value, or a "name=value ..." string`);
      return [];
    }
    const out: Array<[string, string]> = [];
    for (const [name, value] of Object.entries(raw as Record<string, ParamValue>)) {
      if (value === null || value === undefined) {
        problems.push(`${where}: parameter ${name} has no value`);
        continue;
      }
      // encodeParams checks the name and value by the kernel's rules; parseParams reads the text back.
      try {
        const [parsed] = parseParams(encodeParams([[name, value]]));
        out.push([normalizeParamName(parsed!.name), parsed!.value ?? 'Y']);
      } catch (e) {
        problems.push(`${where}: ${(e as Error).message}`);
      }
    }
    const seen = new Set<string>();
    for (const [n] of out) {
      if (seen.has(n)) problems.push(`${where}: parameter ${n} is given twice (- and _ are the same to the kernel)`);
      seen.add(n);
    }
    return out;
  } catch (e) {
    problems.push(`${where}: ${(e as Error).message}`);
    return [];
  }
}

/**
 * Checks the shape of a spec (names, states, params, reload) and normalises it; returns every problem
 * found rather than stopping at the first. Whether each module exists is checked by ensure().
 */
export function checkSpec(raw: unknown): { modules: ModuleSpec[]; problems: string[] } {
  const problems: string[] = [];
  const modules: ModuleSpec[] = [];
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { modules, problems: ['the spec must be a mapping of module names to { state, params?, reload? }'] };
  }
  const byName = new Map<string, string>();
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    let module: string;
    try {
      module = normalizeModuleName(validateModuleName(key, 56));
      if (module !== key.replaceAll('-', '_'))
        throw new Error(`module name ${JSON.stringify(key)} contains "." (give the module name, not a file name)`);
    } catch (e) {
      problems.push((e as Error).message);
      continue;
    }
    const where = `module ${module}`;
    if (byName.has(module)) {
      problems.push(
        `${where}: named twice (${JSON.stringify(byName.get(module))} and ${JSON.stringify(key)}; - and _ are the same to the kernel)`,
      );
      continue;
    }
    byName.set(module, key);
    const entry = (typeof value === 'string' ? { state: value } : value) as Record<string, unknown> | null;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      problems.push(`${where}: expected a state or { state, params?, reload? }`);
      continue;
    }
    for (const k of Object.keys(entry))
      if (!KEYS.has(k)) problems.push(`${where}: unknown key ${JSON.stringify(k)} (known: state, params, reload)`);
    const state = entry.state;
    if (typeof state !== 'string' || !(STATES as readonly string[]).includes(state)) {
      problems.push(`${where}: state ${JSON.stringify(state)} is not one of ${STATES.join(', ')}`);
      continue;
    }
    const params = paramsOf(where, entry.params, problems);
    if (params.length && !LOADING_STATES.has(state as ModuleStateName))
      problems.push(`${where}: params apply only to the states loaded and installed, not ${state}`);
    if (entry.reload !== undefined && typeof entry.reload !== 'boolean') problems.push(`${where}: reload must be true or false`);
    modules.push({ module, state: state as ModuleStateName, params, reload: entry.reload === true });
  }
  return { modules, problems };
}

/** The error for a refused spec: every problem, one per line. */
export function specError(problems: string[]): KernmodError {
  const err = invalidInput('ERR_KERNMOD_INVALID_SPEC', `the spec was refused, nothing was changed:\n  - ${problems.join('\n  - ')}`, {
    hint: 'fix every problem listed, then apply again',
  });
  return Object.assign(err, { problems });
}
