// /proc/modules (kernel/module/procfs.c m_show): `name size refcnt deps state 0xaddr[ (taints)]`.
// deps is `a,b,` (trailing comma) or `-`; refcnt and deps are `-` without CONFIG_MODULE_UNLOAD;
// `[permanent]` in deps marks a module with init but no exit. Pure.

export interface ProcModulesRow {
  name: string;
  size: number;
  /** null when the kernel has no module unloading (the column shows `-`). */
  refcnt: number | null;
  /** Modules that use this one (the kernel's `source_list`), without `[permanent]`. */
  usedBy: string[];
  /** Has init but no exit: it can only be removed by force. */
  permanent: boolean;
  state: 'Live' | 'Loading' | 'Unloading' | string;
  /** The load address as a bigint (0n unless kallsyms shows addresses to this reader). */
  address: bigint;
  /** Taint letters from the trailing `(...)`, with `+`/`-` (coming/going) removed. */
  taint: string;
}

export function parseProcModules(text: string): ProcModulesRow[] {
  const rows: ProcModulesRow[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const f = line.split(' ');
    if (f.length < 6) continue; // not a module line (or a torn read): skip rather than guess
    const [name, size, refcnt, deps, state, address] = f as [string, string, string, string, string, string];
    const taints = f.slice(6).join(' ');
    const depList = deps === '-' ? [] : deps.split(',').filter(Boolean);
    let addr = 0n;
    try {
      addr = BigInt(address);
    } catch {
      /* an unexpected address format: keep 0 */
    }
    rows.push({
      name,
      size: Number(size),
      refcnt: refcnt === '-' ? null : Number(refcnt),
      usedBy: depList.filter((d) => d !== '[permanent]'),
      permanent: depList.includes('[permanent]'),
      state,
      address: addr,
      taint: /^\((.*)\)$/.exec(taints)?.[1]?.replace(/[+-]/g, '') ?? '',
    });
  }
  return rows;
}
