// The two facts `modprobe -r` reads from sysfs besides initstate (lib/linux/state.ts): a module's
// reference count and its holders (kmod_module_get_refcnt / kmod_module_get_holders). `root` prefixes
// /sys, for tests and containers.
// fs.promises is a getter: node:fs/promises loads only when -r reads (start-up: not in every modprobe).
import { promises as fsp } from 'node:fs';
import { listRawOptAsync } from '../linux/state.js';

/** /sys/module/<name>/refcnt, or undefined if the module is not loaded (or has no unload support). */
export async function readRefcnt(name: string, root = ''): Promise<number | undefined> {
  try {
    const n = Number((await fsp.readFile(`${root}/sys/module/${name}/refcnt`, 'utf8')).trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The modules holding `name` (/sys/module/<name>/holders/) in the order readdir(3) gives them, as kmod
 * lists them (node's readdir would sort them); [] if none or unreadable.
 */
export async function readHolders(name: string, root = ''): Promise<string[]> {
  return (await listRawOptAsync(`${root}/sys/module/${name}/holders`)) ?? [];
}
