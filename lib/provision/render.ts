// The files kernmod persists for a module, one of each kind per module as Ansible writes them:
// <loadDir>/<name>.conf (modules-load.d: load at boot) and <configDir>/<name>.conf (modprobe.d: options,
// blacklist or install line). The first line is kernmod's marker: a file without it was written by
// someone else and is never changed or deleted.
import { encodeParams } from '../params.js';
import type { ModuleSpec } from './spec.js';

export const MARKER = '# Managed by kernmod (kernmod apply): changes here are replaced on the next apply.';

/** Written by kernmod: its first line is the marker. */
export function isOurs(content: string): boolean {
  return content === MARKER || content.startsWith(`${MARKER}\n`);
}

/** What the spec wants in modules-load.d for this module: its name, or no file. */
export function renderLoadFile(spec: ModuleSpec): string | undefined {
  return spec.state === 'installed' ? `${MARKER}\n${spec.module}\n` : undefined;
}

/**
 * What the spec wants in modprobe.d: `options` for an installed module with params, `blacklist`, or
 * `install <name> /bin/false`; no file otherwise. undefined for the states that leave files alone.
 */
export function renderConfigFile(spec: ModuleSpec): string | undefined {
  switch (spec.state) {
    case 'installed':
      return spec.params.length ? `${MARKER}\noptions ${spec.module} ${encodeParams(spec.params)}\n` : undefined;
    case 'blacklisted':
      return `${MARKER}\nblacklist ${spec.module}\n`;
    case 'disabled':
      return `${MARKER}\ninstall ${spec.module} /bin/false\n`;
    default:
      return undefined;
  }
}

/** The states whose files are decided by the spec (the others are run-time only: loaded, unloaded). */
export function managesFiles(spec: ModuleSpec): boolean {
  return spec.state !== 'loaded' && spec.state !== 'unloaded';
}
