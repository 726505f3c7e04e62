// The interface every NetBSD backend implements: the native addon (built on NetBSD only) and the fake
// kernel for unit tests. Like the Linux Backend it issues modctl(2) and reports `ret` or `-errno` — a
// NetBSD errno, whatever the host — and knows no policy; lib/netbsd/modctl.ts holds the policy and
// lib/netbsd/errors.ts builds the errors.
import type { ModstatLayout } from './modstat.js';
import { PLIST_FOOTER, PLIST_HEADER } from './plist.js';

export type NetbsdBackendName = 'native' | 'fake';

/** What MODCTL_STAT returned: ret 0 and the bytes the kernel wrote, or ret -errno. */
export interface StatOutcome {
  ret: number;
  /** The command that produced `ret`: 4 (MODCTL_STAT, 9.0+) or 2 (the old MODCTL_STAT / OSTAT). */
  command: 2 | 4;
  layout: ModstatLayout;
  /** Exactly the iov_len the kernel reported (empty when ret < 0). */
  bytes: Uint8Array;
}

export interface NetbsdBackend {
  readonly name: NetbsdBackendName;
  readonly system: 'netbsd';
  /** The kernel's byte order (MODCTL_STAT writes native integers). */
  readonly endian: 'LE' | 'BE';

  /**
   * modctl(MODCTL_LOAD) with ml_filename, ml_flags and ml_props/ml_propslen = strlen(props). An empty
   * `props` sends the empty-dictionary plist instead (5.x kernels fault on a NULL ml_props).
   */
  modctlLoad(filename: string, flags: number, props: string): Promise<number>;
  modctlLoadSync(filename: string, flags: number, props: string): number;
  /** modctl(MODCTL_UNLOAD, name). */
  modctlUnload(name: string): Promise<number>;
  modctlUnloadSync(name: string): number;
  /**
   * modctl(MODCTL_STAT): command 4 first, command 2 after EINVAL; starts with a non-zero buffer and
   * grows it to the iov_len the kernel reports until the whole answer fits.
   */
  modctlStat(): Promise<StatOutcome>;
  modctlStatSync(): StatOutcome;
  /** modctl(MODCTL_EXISTS, (void *)which): 0 = may this caller load now, 1 = may the system autoload. */
  modctlExists(which: number): Promise<number>;
  modctlExistsSync(which: number): number;
}

/** The plist modload sends when there are no properties (an empty dictionary): 190 bytes. */
export const EMPTY_PROPS_PLIST = `${PLIST_HEADER}<dict/>\n${PLIST_FOOTER}`;
