// The option tables of every kernmod command: each command parses its command line with its table
// (getoptLong, in glibc's or NetBSD's style), and the man pages and shell completions are generated from the same tables
// (lib/cli/manpage.ts, lib/cli/completion.ts), so what is documented is what is parsed. Data only:
// importing this costs a command nothing at start-up.
import { COMMON_OPTIONS, type OptionSpec } from './getopt.js';

/** insmod's options as kmod spells them (tools/insmod.c), plus kernmod's own. */
export const INSMOD_OPTIONS: readonly OptionSpec[] = [
  { short: 'f', long: 'force', help: 'DANGEROUS: forces a module load, may cause data corruption and crash your machine' },
  { long: 'force-modversion', help: "ignore module's version" },
  { long: 'force-vermagic', help: "ignore module's version magic" },
  { key: 'probe', short: 'p', help: 'ignored, as by kmod (kept for old scripts)' },
  { short: 's', long: 'syslog', help: 'print to syslog, not stderr (refused: kernmod prints to stderr)' },
  ...COMMON_OPTIONS,
];

/** rmmod's options as kmod spells them (tools/rmmod.c), plus `-w` (kmod's modprobe -r --wait). */
export const RMMOD_OPTIONS: readonly OptionSpec[] = [
  { short: 'f', long: 'force', help: 'forces a module removal and may crash your machine; needs CONFIG_MODULE_FORCE_UNLOAD. DANGEROUS' },
  { short: 'w', long: 'wait', arg: 'required', argName: 'MSEC', help: 'wait up to MSEC while the module is in use' },
  { short: 's', long: 'syslog', help: 'print to syslog, not stderr (refused: kernmod prints to stderr)' },
  { short: 'v', long: 'verbose', help: 'enables more messages' },
  ...COMMON_OPTIONS,
];

/** lsmod takes no options of kmod's (kmod's lsmod takes none at all): kernmod's own. */
export const LSMOD_OPTIONS: readonly OptionSpec[] = COMMON_OPTIONS;

/** modinfo's options as kmod 30 spells them (tools/modinfo.c cmdopts), plus kernmod's own. */
export const MODINFO_OPTIONS: readonly OptionSpec[] = [
  { short: 'a', long: 'author', help: "print only 'author'" },
  { short: 'd', long: 'description', help: "print only 'description'" },
  { short: 'l', long: 'license', help: "print only 'license'" },
  { short: 'p', long: 'parameters', help: "print only 'parm'" },
  { short: 'n', long: 'filename', help: "print only 'filename'" },
  { short: '0', long: 'null', help: 'use \\0 instead of \\n' },
  { short: 'm', long: 'modname', help: 'handle argument as module name instead of alias or filename' },
  { short: 'F', long: 'field', arg: 'required', argName: 'FIELD', help: 'print only provided FIELD' },
  { short: 'k', long: 'set-version', arg: 'required', argName: 'VERSION', help: 'use VERSION instead of `uname -r`' },
  { short: 'b', long: 'basedir', arg: 'required', argName: 'DIR', help: 'use DIR as filesystem root for /lib/modules' },
  {
    long: 'json',
    help:
      'print each module as JSON, an array for several, where an argument that failed (modinfo goes on, ' +
      'and exits 1) is { "ok": false, "argument", "error" }',
  },
  ...COMMON_OPTIONS.filter((o) => o.long !== 'json'),
];

/** modprobe's options as kmod 30 spells them (tools/modprobe.c cmdopts), plus kernmod's own. */
export const MODPROBE_OPTIONS: readonly OptionSpec[] = [
  { short: 'a', long: 'all', help: 'consider every non-argument to be a module name to be inserted or removed (-r)' },
  { short: 'r', long: 'remove', help: 'remove modules instead of inserting' },
  { key: 'remove-holders', long: 'remove-dependencies', help: 'deprecated: use --remove-holders' },
  { long: 'remove-holders', help: 'also remove module holders (use together with -r)' },
  {
    short: 'w',
    long: 'wait',
    arg: 'required',
    argName: 'MSEC',
    help: "when removing a module, wait up to MSEC for the module's refcount to become 0",
  },
  { long: 'first-time', help: 'fail if module already inserted or removed' },
  { short: 'i', long: 'ignore-install', help: 'ignore install commands' },
  { key: 'ignore-install', long: 'ignore-remove', help: 'ignore remove commands' },
  { short: 'b', long: 'use-blacklist', help: 'apply blacklist to resolved alias' },
  { short: 'f', long: 'force', help: 'force module insertion or removal; implies --force-modversion and --force-vermagic' },
  { long: 'force-modversion', help: "ignore module's version" },
  { long: 'force-vermagic', help: "ignore module's version magic" },
  { long: 'sequential', help: "load one module at a time, in kmod's order" },
  { short: 'R', long: 'resolve-alias', help: 'only lookup and print alias and exit' },
  { short: 'D', long: 'show-depends', help: 'only print module dependencies and exit' },
  { short: 'c', long: 'showconfig', help: 'print out known configuration and exit' },
  { key: 'showconfig', long: 'show-config', help: 'same as --showconfig' },
  { long: 'show-modversions', argName: 'FILE', help: 'dump module symbol version and exit' },
  { key: 'show-modversions', long: 'dump-modversions', help: 'same as --show-modversions' },
  { long: 'show-exports', help: 'only print module exported symbol versions and exit' },
  { short: 'n', long: 'dry-run', help: 'do not execute operations, just print out' },
  { key: 'dry-run', long: 'show', help: 'same as --dry-run' },
  { short: 'C', long: 'config', arg: 'required', argName: 'FILE', help: 'use FILE instead of default search paths' },
  { short: 'd', long: 'dirname', arg: 'required', argName: 'DIR', help: 'use DIR as filesystem root for /lib/modules' },
  { short: 'S', long: 'set-version', arg: 'required', argName: 'VERSION', help: 'use VERSION instead of `uname -r`' },
  { short: 's', long: 'syslog', help: 'print to syslog, not stderr (refused: kernmod prints to stderr)' },
  { short: 'q', long: 'quiet', help: 'disable messages' },
  { short: 'v', long: 'verbose', help: 'enables more messages' },
  ...COMMON_OPTIONS,
];

/**
 * depmod's options in kmod 30's order (tools/depmod.c cmdopts: glibc lists an ambiguous prefix's
 * possibilities in table order), plus -o/--outdir (kmod 31's) and kernmod's --json. kmod's depmod has
 * no -s: it is an invalid option there, as here.
 */
export const DEPMOD_OPTIONS: readonly OptionSpec[] = [
  { short: 'a', long: 'all', help: 'probe all modules' },
  { short: 'A', long: 'quick', help: "only does the work if there's a new module" },
  { short: 'b', long: 'basedir', arg: 'required', argName: 'DIR', help: 'use an image of a module tree' },
  { short: 'o', long: 'outdir', arg: 'required', argName: 'DIR', help: 'output directory for generated files' },
  { short: 'C', long: 'config', arg: 'required', argName: 'FILE', help: 'read configuration from FILE (a file or a directory)' },
  { short: 'E', long: 'symvers', arg: 'required', argName: 'FILE', help: 'use Module.symvers FILE to check symbol versions' },
  { short: 'F', long: 'filesyms', arg: 'required', argName: 'FILE', help: 'use System.map FILE instead of the current kernel symbols' },
  { short: 'e', long: 'errsyms', help: 'report not supplied symbols' },
  { short: 'u', long: 'unresolved-error', help: 'deprecated: ignored with a warning' },
  { short: 'q', long: 'quiet', help: 'deprecated: ignored with a warning' },
  { short: 'r', long: 'root', help: 'deprecated: ignored with a warning' },
  { short: 'v', long: 'verbose', help: 'enable verbose mode' },
  { short: 'n', long: 'show', help: 'write the dependency file on stdout only' },
  { key: 'show', long: 'dry-run', help: 'same as --show' },
  { short: 'P', long: 'symbol-prefix', arg: 'required', argName: 'C', help: 'architecture symbol prefix (one character)' },
  { short: 'w', long: 'warn', help: 'warn on duplicates' },
  { short: 'm', long: 'map', help: 'deprecated: ignored with a warning' },
  { short: 'V', long: 'version', help: 'show version' },
  { short: 'h', long: 'help', help: 'show this help' },
  { long: 'json', help: 'print the result or the error as JSON' },
];

/** kernmod doctor: kernmod's own command, so only its own options. */
export const DOCTOR_OPTIONS: readonly OptionSpec[] = [
  { long: 'json', help: 'print the checks (or the error) as JSON' },
  { short: 'h', long: 'help', help: 'show this help' },
];

/** kernmod apply. */
export const APPLY_OPTIONS: readonly OptionSpec[] = [
  { long: 'check', help: 'change nothing; exit 2 if anything would change' },
  { long: 'diff', help: 'show the persisted files before and after' },
  {
    long: 'root',
    arg: 'required',
    argName: 'DIR',
    help: 'write the persisted files under DIR (an image; names checked against DIR/lib/modules/*); do not touch the running kernel',
  },
  { long: 'load-dir', arg: 'required', argName: 'DIR', help: 'modules-load.d directory (default /etc/modules-load.d)' },
  { long: 'config-dir', arg: 'required', argName: 'DIR', help: 'modprobe.d directory (default /etc/modprobe.d)' },
  { long: 'json', help: 'print the result or the error as JSON' },
  { short: 'h', long: 'help', help: 'show this help' },
];

/** kernmod's own long options on the NetBSD-named tools, which NetBSD's getopt(3) otherwise parses. */
const NETBSD_KERNMOD_OPTIONS: readonly OptionSpec[] = [
  { long: 'json', help: 'print the result or the error as JSON' },
  { long: 'help', help: 'show this help' },
];

/** NetBSD's modload(8) (sbin/modload/main.c getopt "Pb:d:fi:m:ps:"). */
export const MODLOAD_OPTIONS: readonly OptionSpec[] = [
  { short: 'P', help: "do not load the module's companion .plist file" },
  { short: 'b', arg: 'required', argName: 'VAR=BOOL', help: 'set the boolean property VAR' },
  { short: 'd', arg: 'required', argName: 'VAR', help: 'with -p and -m: delete VAR from the property list' },
  { short: 'f', help: 'force the load (ignore version checks)' },
  { short: 'i', arg: 'required', argName: 'VAR=INT', help: 'set the integer property VAR' },
  { short: 'm', arg: 'required', argName: 'FILE', help: 'with -p: merge into the property list in FILE' },
  { short: 'p', help: 'print the property list instead of loading' },
  { short: 's', arg: 'required', argName: 'VAR=STR', help: 'set the string property VAR' },
  ...NETBSD_KERNMOD_OPTIONS,
];

/** NetBSD's modunload(8) takes no options. */
export const MODUNLOAD_OPTIONS: readonly OptionSpec[] = NETBSD_KERNMOD_OPTIONS;

/** NetBSD's modstat(8) (sbin/modstat/main.c getopt "Aaekn:"). */
export const MODSTAT_OPTIONS: readonly OptionSpec[] = [
  { short: 'A', help: 'can modules be autoloaded (also reads kern.module.autoload)' },
  { short: 'a', help: 'can modules be autoloaded' },
  { short: 'e', help: 'can modules be loaded' },
  { short: 'k', help: "also print each module's load address" },
  { short: 'n', arg: 'required', argName: 'NAME', help: 'only the module NAME' },
  ...NETBSD_KERNMOD_OPTIONS,
];

/** kernmod vm: its options end at the first operand or `--`; what follows is the guest's command. */
export const VM_OPTIONS: readonly OptionSpec[] = [
  {
    long: 'kernel',
    arg: 'required',
    argName: 'SPEC',
    help: '6.1 (default) | 6.12 | an installed release | a vmlinuz file | /lib/modules/<release>',
  },
  { long: 'append', arg: 'required', argName: 'ARG', help: 'extra kernel command-line argument (repeatable), e.g. module.sig_enforce=1' },
  { long: 'timeout', arg: 'required', argName: 'SEC', help: 'whole-run limit including boot (default 900); exit code 124 when hit' },
  { long: 'accel', arg: 'required', argName: 'MODE', help: 'auto (default; KVM if a probe boot works) | kvm | tcg (env KERNMOD_VM_ACCEL)' },
  { long: 'memory', arg: 'required', argName: 'MIB', help: 'guest memory (default 2048)' },
  { long: 'cpus', arg: 'required', argName: 'N', help: 'guest CPUs (default 2)' },
  { long: 'env', arg: 'required', argName: 'NAME=VALUE', help: 'extra environment for the command (repeatable)' },
  {
    long: 'boot-retries',
    arg: 'required',
    argName: 'N',
    help:
      'boot again up to N times if the guest dies before COMMAND starts (default 1; a kernel panic during ' +
      'boot under TCG); each retry is reported',
  },
  { long: 'dmesg', help: "print the guest's kernel log to stderr at the end (otherwise it is saved to a file)" },
  { long: 'provision', help: 'install missing packages first (root + apt)' },
  { long: 'quiet', help: 'no progress messages' },
  { long: 'list', help: 'list kernels that can be booted' },
  { short: 'h', long: 'help', help: 'show this help' },
];

/** kernmod completion bash|zsh. */
export const COMPLETION_OPTIONS: readonly OptionSpec[] = [{ short: 'h', long: 'help', help: 'show this help' }];

/** What a command's operands are, for completion: loaded module names, installed ones, or files. */
type OperandKind = 'file' | 'loaded-module' | 'module' | 'none';

export interface CommandDoc {
  name: string;
  synopsis: string;
  summary: string;
  /** The table the command parses with. */
  options: readonly OptionSpec[];
  operands: OperandKind;
}

/** Every `kernmod <command>`, in the order `kernmod --help` lists them. */
export const COMMAND_DOCS: readonly CommandDoc[] = [
  {
    name: 'insmod',
    synopsis: 'insmod [options] FILE [PARAM=VALUE...]',
    summary: 'load a module file',
    options: INSMOD_OPTIONS,
    operands: 'file',
  },
  { name: 'rmmod', synopsis: 'rmmod [options] NAME|FILE...', summary: 'unload modules', options: RMMOD_OPTIONS, operands: 'loaded-module' },
  { name: 'lsmod', synopsis: 'lsmod [--json]', summary: "list loaded modules (kmod's format)", options: LSMOD_OPTIONS, operands: 'none' },
  {
    name: 'modinfo',
    synopsis: 'modinfo [-F field] [-0] [-k KVER] [-b DIR] [-adlpnm] [--json] MODULE|FILE...',
    summary: 'show module information (kmod-identical text)',
    options: MODINFO_OPTIONS,
    operands: 'module',
  },
  {
    name: 'modprobe',
    synopsis: 'modprobe [options] NAME [PARAMS...]',
    summary: "load (-r: unload) a module with its dependencies, as kmod's modprobe",
    options: MODPROBE_OPTIONS,
    operands: 'module',
  },
  {
    name: 'depmod',
    synopsis: 'depmod [-aAenvw] [-b BASE] [-C CONFIG] [-E Module.symvers | -F System.map] [-o DIR] [-P C] [VERSION] [FILES...]',
    summary: 'write modules.dep and the other indexes of a module tree',
    options: DEPMOD_OPTIONS,
    operands: 'file',
  },
  {
    name: 'doctor',
    synopsis: 'doctor [FILE [PARAM=VALUE...]]',
    summary: 'check whether a load can work here',
    options: DOCTOR_OPTIONS,
    operands: 'file',
  },
  {
    name: 'apply',
    synopsis: 'apply [--check] [--diff] [--root DIR] [--load-dir DIR] [--config-dir DIR] FILE|-',
    summary: 'make modules match a desired-state spec (JSON/YAML)',
    options: APPLY_OPTIONS,
    operands: 'file',
  },
  {
    name: 'modload',
    synopsis: 'modload [-fP] [-b var=bool] [-i var=int] [-s var=str] MODULE',
    summary: 'NetBSD: load a module',
    options: MODLOAD_OPTIONS,
    operands: 'file',
  },
  {
    name: 'modunload',
    synopsis: 'modunload NAME...',
    summary: 'NetBSD: unload modules',
    options: MODUNLOAD_OPTIONS,
    operands: 'loaded-module',
  },
  {
    name: 'modstat',
    synopsis: 'modstat [-Aaek] [-n NAME | NAME]',
    summary: 'NetBSD: list modules in modstat columns',
    options: MODSTAT_OPTIONS,
    operands: 'loaded-module',
  },
  {
    name: 'vm',
    synopsis: 'vm [--kernel 6.1|6.12|PATH] [--append ARGS] -- COMMAND...',
    summary: 'run COMMAND as root in a throwaway qemu VM with a real kernel',
    options: VM_OPTIONS,
    operands: 'none',
  },
  {
    name: 'completion',
    synopsis: 'completion bash|zsh',
    summary: 'print the shell completion script',
    options: COMPLETION_OPTIONS,
    operands: 'none',
  },
];
