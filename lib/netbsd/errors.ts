// NetBSD's side of the one error type: a failed modctl(2) becomes a KernmodError through systemError()
// with a NetBSD "dialect" — NetBSD's errno table (its numbers differ from Linux's) and the cause of each
// errno for each modctl command, from modctl(2), modload(8), modunload(8), modstat(8) and the kernel's
// handle_modctl_load / module_load / module_unload (research/netbsd-anchors.md §2).
import { systemError, type KernmodError, type Phase } from '../errors.js';
import { netbsdErrnoInfo } from './errno-table.js';

export type ModctlCommand = 'load' | 'unload' | 'stat' | 'exists';

const LOAD_HINTS: Record<string, string> = {
  EPERM:
    'the kernel refused to load modules: only root may (kauth KAUTH_SYSTEM_MODULE, secmodel_suser), and ' +
    'nobody may while securelevel > 0 (secmodel_securelevel); a builtin module that was disabled loads ' +
    'again only with force (modload -f)',
  EEXIST: 'a module with this name is already loaded (see modstat)',
  ENOENT:
    'the module was not found: a name without "/" is looked up as ' +
    '<kern.module.path>/<name>/<name>.kmod, a path as given (relative to the current directory); or a ' +
    'module it requires could not be found, or its class or a dependency name does not match',
  EPROGMISMATCH:
    "the module was built for a different kernel version: use a module from this kernel's release, or " +
    'force it (modload -f) at your own risk',
  EDEADLK: 'the module requires itself, directly or through a cycle of dependencies',
  EMLINK: 'its dependencies nest deeper than the kernel allows (MODULE_MAX_DEPTH, 6, on NetBSD 8.x and older)',
  EFBIG:
    "the module's companion property list (<module>.plist next to the .kmod) is too large: at most 8190 " +
    'bytes (the kernel refuses st_size >= 8191)',
  EINVAL:
    'the kernel rejected the request: the property list does not parse (the one passed to modctl, or ' +
    "the module's own .plist), the file is empty or truncated, a module or dependency name is 32 bytes " +
    'or longer, or it has more dependencies than the kernel allows (8.x and older)',
  ENOMEM: 'the property list is longer than the 4096 bytes the kernel accepts, or the kernel ran out of memory',
  ENAMETOOLONG:
    'the module path is 1024 bytes or longer (MAXPATHLEN), a component of the path is longer than 255 ' +
    'bytes (NAME_MAX), or the property list is not NUL-terminated within its length',
  ENOSYS: 'this kernel was built without options MODULAR: it cannot load modules',
  ENOEXEC:
    'not a kernel module for this kernel and architecture (the ELF object could not be loaded), or the ' +
    'same module is already loaded from another path ("global symbol redefined" on the console)',
  EFTYPE: 'the file is not of a type the kernel loads modules from (a regular file holding an ELF kernel module)',
  EFAULT:
    'the kernel could not read the request from user memory (NetBSD 5.x also faults on a missing property list; kernmod always sends one)',
  EACCES: 'the kernel could not read the module file (no permission)',
  EISDIR: 'the path names a directory, not a module file',
};

// The kernel passes the module's MODULE_CMD_INIT result through unchanged, so any errno from a load may
// be the module's own: every load hint says so, and an errno the kernel itself never gives gets that alone.
const MODULE_INIT = "the module's own initialisation (MODULE_CMD_INIT) returned this error";

const UNLOAD_HINTS: Record<string, string> = {
  ENOENT: 'no module of this name is loaded (see modstat)',
  EBUSY:
    'the module is in use: other modules require it or its reference count is not zero (modstat REFS), ' +
    'or it refused to finish (e.g. a file system that is still mounted); unload or unmount its users first',
  EPERM:
    'the kernel refused to unload modules: only root may, and nobody may while securelevel > 0; builtin security models cannot be unloaded',
  ENAMETOOLONG: 'module names are at most 31 bytes (MAXMODNAME is 32 with the NUL)',
  EOPNOTSUPP: 'the module does not support being unloaded',
  ENOSYS: 'this kernel was built without options MODULAR',
  EFAULT: 'the kernel could not read the module name from user memory',
};

const STAT_HINTS: Record<string, string> = {
  EINVAL:
    'the kernel answered neither MODCTL_STAT (4, NetBSD 9.0 and later) nor the old MODCTL_STAT (2, ' +
    'NetBSD 5.0–8.x); on 9.0 and later the old command needs the compat_80 module',
  EPERM: 'an unprivileged MODCTL_STAT with an empty buffer is refused (kernmod always passes a buffer)',
  EFAULT: 'the kernel could not write the module list to user memory',
  EAGAIN: 'the module list kept changing while it was being read (kernmod gave up after repeated retries)',
  ENOMEM: 'not enough memory for the module list',
};

const EXISTS_HINTS: Record<string, string> = {
  ENOSYS: 'The kernel was compiled without options MODULAR.',
  EPERM: 'not allowed now: loading needs root and securelevel <= 0; autoloading needs securelevel <= 0',
  EINVAL: 'this kernel does not know MODCTL_EXISTS (it first appeared in NetBSD 7.0)',
};

const TABLES: Record<ModctlCommand, Record<string, string>> = {
  load: LOAD_HINTS,
  unload: UNLOAD_HINTS,
  stat: STAT_HINTS,
  exists: EXISTS_HINTS,
};

const PHASES: Record<ModctlCommand, Phase> = { load: 'load', unload: 'unload', stat: 'query', exists: 'query' };

/** The kernel's cause for `code` (a NetBSD errno name) on this modctl command, if known. */
export function netbsdHint(code: string, command: ModctlCommand): string | undefined {
  const known = TABLES[command][code === 'EWOULDBLOCK' ? 'EAGAIN' : code];
  if (command !== 'load') return known;
  return known ? `${known}; or ${MODULE_INIT}` : `${MODULE_INIT} (the kernel's loader does not use it)`;
}

/** The KernmodError for a failed modctl: `EEXIST: file exists, modctl 'tmpfs'`, NetBSD codes and hints. */
export function modctlError(ret: number, command: ModctlCommand, target: { path?: string; module?: string } = {}): KernmodError {
  return systemError(ret, 'modctl', target, {
    errnoInfo: netbsdErrnoInfo,
    hint: (code) => netbsdHint(code, command),
    phase: PHASES[command],
  });
}
