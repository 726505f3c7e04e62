// Module parameters as modinfo shows them, merged from `parm=name:description` and
// `parmtype=name:type` strings the way kmod's tools/modinfo.c does: one entry per name, the last
// description and type seen win, and — because kmod prepends new names to a linked list — the entries
// come out in reverse order of first appearance. A value without ':' is skipped (kmod prints an error).
import type { ModinfoField } from './strings.js';

export interface ModuleParam {
  name: string;
  description?: string;
  type?: string;
}

export interface MergedParams {
  params: ModuleParam[];
  /** `parm`/`parmtype` values without a ':' (kmod: `Found invalid "parm=...": missing ':'`). */
  invalid: ModinfoField[];
}

export function mergeParams(fields: readonly ModinfoField[]): MergedParams {
  const byName = new Map<string, ModuleParam>();
  const invalid: ModinfoField[] = [];
  for (const f of fields) {
    if (f.key !== 'parm' && f.key !== 'parmtype') continue;
    const colon = f.value.indexOf(':');
    if (colon === -1) {
      invalid.push(f);
      continue;
    }
    const name = f.value.slice(0, colon);
    let p = byName.get(name);
    if (!p) {
      p = { name };
      byName.set(name, p);
    }
    if (f.key === 'parm') p.description = f.value.slice(colon + 1);
    else p.type = f.value.slice(colon + 1);
  }
  return { params: [...byName.values()].reverse(), invalid };
}
