// The option tables of kernmod's kmod-named commands: each command parses its command line with its
// table (getoptLong), and the man pages and shell completions are generated from the same tables
// (lib/cli/manpage.ts, lib/cli/completion.ts), so what is documented is what is parsed. Data only:
// importing this costs a command nothing at start-up.
import { COMMON_OPTIONS, type OptionSpec } from './getopt.js';

/** insmod's options as kmod spells them (tools/insmod.c), plus kernmod's own. */
export const INSMOD_OPTIONS: readonly OptionSpec[] = [
  { key: 'force', short: 'f', long: 'force', help: 'DANGEROUS: forces a module load, may cause data corruption and crash your machine' },
  { key: 'force-modversion', long: 'force-modversion', help: "ignore module's version" },
  { key: 'force-vermagic', long: 'force-vermagic', help: "ignore module's version magic" },
  { key: 'probe', short: 'p', help: 'ignored, as by kmod (kept for old scripts)' },
  { key: 'syslog', short: 's', long: 'syslog', help: 'print to syslog, not stderr (refused: kernmod prints to stderr)' },
  ...COMMON_OPTIONS,
];

/** rmmod's options as kmod spells them (tools/rmmod.c), plus `-w` (kmod's modprobe -r --wait). */
export const RMMOD_OPTIONS: readonly OptionSpec[] = [
  { key: 'force', short: 'f', long: 'force', help: 'forces a module removal and may crash your machine; needs CONFIG_MODULE_FORCE_UNLOAD. DANGEROUS' },
  { key: 'wait', short: 'w', long: 'wait', arg: 'required', argName: 'MSEC', help: 'wait up to MSEC while the module is in use' },
  { key: 'syslog', short: 's', long: 'syslog', help: 'print to syslog, not stderr (refused: kernmod prints to stderr)' },
  { key: 'verbose', short: 'v', long: 'verbose', help: 'enables more messages' },
  ...COMMON_OPTIONS,
];

/** lsmod takes no options of kmod's (kmod's lsmod takes none at all): kernmod's own. */
export const LSMOD_OPTIONS: readonly OptionSpec[] = COMMON_OPTIONS;

/** modprobe's options as kmod 30 spells them (tools/modprobe.c cmdopts), plus kernmod's own. */
export const MODPROBE_OPTIONS: readonly OptionSpec[] = [
  { key: 'all', short: 'a', long: 'all', help: 'consider every non-argument to be a module name to be inserted or removed (-r)' },
  { key: 'remove', short: 'r', long: 'remove', help: 'remove modules instead of inserting' },
  { key: 'remove-holders', long: 'remove-dependencies', help: 'deprecated: use --remove-holders' },
  { key: 'remove-holders', long: 'remove-holders', help: 'also remove module holders (use together with -r)' },
  { key: 'wait', short: 'w', long: 'wait', arg: 'required', argName: 'MSEC', help: "when removing a module, wait up to MSEC for the module's refcount to become 0" },
  { key: 'first-time', long: 'first-time', help: 'fail if module already inserted or removed' },
  { key: 'ignore-install', short: 'i', long: 'ignore-install', help: 'ignore install commands' },
  { key: 'ignore-install', long: 'ignore-remove', help: 'ignore remove commands' },
  { key: 'use-blacklist', short: 'b', long: 'use-blacklist', help: 'apply blacklist to resolved alias' },
  { key: 'force', short: 'f', long: 'force', help: 'force module insertion or removal; implies --force-modversion and --force-vermagic' },
  { key: 'force-modversion', long: 'force-modversion', help: "ignore module's version" },
  { key: 'force-vermagic', long: 'force-vermagic', help: "ignore module's version magic" },
  { key: 'sequential', long: 'sequential', help: "load one module at a time, in kmod's order" },
  { key: 'resolve-alias', short: 'R', long: 'resolve-alias', help: 'only lookup and print alias and exit' },
  { key: 'show-depends', short: 'D', long: 'show-depends', help: 'only print module dependencies and exit' },
  { key: 'showconfig', short: 'c', long: 'showconfig', help: 'print out known configuration and exit' },
  { key: 'showconfig', long: 'show-config', help: 'same as --showconfig' },
  { key: 'show-modversions', long: 'show-modversions', argName: 'FILE', help: 'dump module symbol version and exit' },
  { key: 'show-modversions', long: 'dump-modversions', help: 'same as --show-modversions' },
  { key: 'show-exports', long: 'show-exports', help: 'only print module exported symbol versions and exit' },
  { key: 'dry-run', short: 'n', long: 'dry-run', help: 'do not execute operations, just print out' },
  { key: 'dry-run', long: 'show', help: 'same as --dry-run' },
  { key: 'config', short: 'C', long: 'config', arg: 'required', argName: 'FILE', help: 'use FILE instead of default search paths' },
  { key: 'dirname', short: 'd', long: 'dirname', arg: 'required', argName: 'DIR', help: 'use DIR as filesystem root for /lib/modules' },
  { key: 'set-version', short: 'S', long: 'set-version', arg: 'required', argName: 'VERSION', help: 'use VERSION instead of `uname -r`' },
  { key: 'syslog', short: 's', long: 'syslog', help: 'print to syslog, not stderr (refused: kernmod prints to stderr)' },
  { key: 'quiet', short: 'q', long: 'quiet', help: 'disable messages' },
  { key: 'verbose', short: 'v', long: 'verbose', help: 'enables more messages' },
  ...COMMON_OPTIONS,
];

/** What a command's operands are, for completion: loaded module names, installed ones, or files. */
export type OperandKind = 'file' | 'loaded-module' | 'module' | 'none';

export interface CommandDoc {
  name: string;
  synopsis: string;
  summary: string;
  /** The table the command parses with; undefined for a command with its own parser (its --help says it). */
  options?: readonly OptionSpec[];
  operands: OperandKind;
}

/** Every `kernmod <command>`, in the order `kernmod --help` lists them. */
export const COMMAND_DOCS: readonly CommandDoc[] = [
  { name: 'insmod', synopsis: 'insmod [options] FILE [PARAM=VALUE...]', summary: 'load a module file', options: INSMOD_OPTIONS, operands: 'file' },
  { name: 'rmmod', synopsis: 'rmmod [options] NAME|FILE...', summary: 'unload modules', options: RMMOD_OPTIONS, operands: 'loaded-module' },
  { name: 'lsmod', synopsis: 'lsmod [--json]', summary: "list loaded modules (kmod's format)", options: LSMOD_OPTIONS, operands: 'none' },
  { name: 'modinfo', synopsis: 'modinfo [-F field] [-0] [-k KVER] [-b DIR] [-adlpnm] MODULE|FILE...', summary: 'show module information (kmod-identical text)', operands: 'module' },
  { name: 'modprobe', synopsis: 'modprobe [options] NAME [PARAMS...]', summary: "load (-r: unload) a module with its dependencies, as kmod's modprobe", options: MODPROBE_OPTIONS, operands: 'module' },
  { name: 'depmod', synopsis: 'depmod [-aAenvw] [-b BASE] [-C CONFIG] [-E Module.symvers | -F System.map] [-o DIR] [-P C] [VERSION] [FILES...]', summary: 'write modules.dep and the other indexes of a module tree', operands: 'file' },
  { name: 'doctor', synopsis: 'doctor [FILE [PARAM=VALUE...]]', summary: 'check whether a load can work here', operands: 'file' },
  { name: 'apply', synopsis: 'apply [--check] [--diff] [--root DIR] [--load-dir DIR] [--config-dir DIR] FILE|-', summary: 'make modules match a desired-state spec (JSON/YAML)', operands: 'file' },
  { name: 'modload', synopsis: 'modload [-fP] [-b var=bool] [-i var=int] [-s var=str] MODULE', summary: 'NetBSD: load a module', operands: 'file' },
  { name: 'modunload', synopsis: 'modunload NAME...', summary: 'NetBSD: unload modules', operands: 'loaded-module' },
  { name: 'modstat', synopsis: 'modstat [-Aaek] [-n NAME | NAME]', summary: 'NetBSD: list modules in modstat columns', operands: 'loaded-module' },
  { name: 'vm', synopsis: 'vm [--kernel 6.1|6.12|PATH] [--append ARGS] -- COMMAND...', summary: 'run COMMAND as root in a throwaway qemu VM with a real kernel', operands: 'none' },
  { name: 'completion', synopsis: 'completion bash|zsh', summary: 'print the shell completion script', operands: 'none' },
];
