#!/usr/bin/env node
// kernmod's command line: `kernmod <command> ...`, or multi-call like kmod when linked as insmod/rmmod.
import { basename } from 'node:path';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { wantsJson } from './getopt.js';
import { endQuietlyWhenOutputCloses, printErrorJson, processIo, versionText, type Io } from './output.js';
import type { Kernmod } from '../kernmod.js';

const COMMANDS = ['insmod', 'rmmod', 'lsmod', 'modinfo', 'modprobe', 'modload', 'modunload', 'modstat', 'vm'] as const;

const USAGE = `Usage: kernmod <command> [options]

Commands:
  insmod [-f] [--force-vermagic] [--force-modversion] FILE [PARAM=VALUE...]
                          load a module file
  rmmod [-f] [-w MSEC] NAME|FILE...
                          unload modules
  lsmod                   list loaded modules (kmod's format)
  modinfo [-F field] [-0] [-k KVER] [-b DIR] [-adlpnm] MODULE|FILE...
                          show module information (kmod-identical text)
  modprobe [-a] [-r] [-n] [-D] [-c] [-b] [-f] [--first-time] [-w MSEC] [-d ROOT] [-S RELEASE] [-C CONFIG] [-q] [-v] NAME [PARAMS...]
                          load (-r: unload) a module with its dependencies, as kmod's modprobe
  doctor [FILE [PARAM=VALUE...]]
                          check whether a load can work here (support, CAP_SYS_MODULE, modules_disabled,
                          lockdown, sig_enforce; for FILE: vermagic, signature, loaded, deps, params)
  modload [-fP] [-b var=bool] [-i var=int] [-s var=str] MODULE
                          NetBSD: load a module (modctl MODCTL_LOAD); -p prints the plist
  modunload NAME...       NetBSD: unload modules
  depmod [-aAenvw] [-b BASE] [-C CONFIG] [-E Module.symvers | -F System.map] [-o DIR] [-P C] [VERSION] [FILES...]
                          write modules.dep and the other indexes of a module tree (kmod 30's files)
  modstat [-Aaek] [-n NAME | NAME]
                          NetBSD: list modules in modstat's columns
  apply [--check] [--diff] [--root DIR] [--load-dir DIR] [--config-dir DIR] FILE|-
                          make modules match a desired-state spec (JSON/YAML): loaded, installed,
                          unloaded, uninstalled, blacklisted, disabled; params; modprobe.d/modules-load.d
  vm [--kernel 6.1|6.12|PATH] [--append ARGS] -- COMMAND...
                          run COMMAND as root in a throwaway qemu VM with a real kernel
  completion bash|zsh     print the shell completion script (eval "$(kernmod completion bash)")
Every command takes --json and --help, the kmod-named ones -V/--version; man kernmod-<command> for each.
KERNMOD_BACKEND=native|ffi picks the system-call backend.
`;

async function defaultKernmod(): Promise<Kernmod> {
  // Loaded lazily so `kernmod vm` and --help work where no backend can load.
  const { withBackend } = await import('../kernmod.js');
  const { loadBackend } = await import('../backend/select.js');
  return withBackend(loadBackend());
}

/**
 * liblzma for .ko.xz when its addon was built, for the commands that may decompress: loaded when the
 * first .xz is decoded, since loading an addon is part of every start-up it is in.
 */
async function withNativeXz(): Promise<void> {
  (await import('../backend/native-xz.js')).installNativeXzOnFirstUse();
}

/**
 * The last word on a failure no command reported itself: kmod's one line (`modprobe: ERROR: ...`),
 * the hint of a KernmodError, exit status 1. A stack trace is for developers, never for a CLI user.
 */
export function reportFailure(command: string | undefined, e: unknown, io: Io, json = false): number {
  if (json) {
    printErrorJson(io, e);
    return 1;
  }
  const who = command ?? 'kernmod';
  const message = e instanceof Error ? e.message : String(e);
  io.err(`${who}: ERROR: ${message}\n`);
  // A KernmodError's hint (told by name: loading lib/errors here would slow every start-up).
  const hint = e instanceof Error && e.name === 'KernmodError' ? (e as { hint?: unknown }).hint : undefined;
  if (typeof hint === 'string' && hint !== '') io.err(`${who}: hint: ${hint}\n`);
  return 1;
}

/** The command named by argv, or by the name this program was run as (insmod, rmmod ... links). */
function commandOf(argv: string[]): { command: string | undefined; rest: string[] } {
  const invokedAs = basename(process.argv[1] ?? '');
  if ((COMMANDS as readonly string[]).includes(invokedAs) && invokedAs !== 'vm') return { command: invokedAs, rest: argv };
  const [command, ...rest] = argv;
  return { command, rest };
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const { command, rest } = commandOf(argv);
  try {
    return await run(command, rest, io);
  } catch (e) {
    return reportFailure(command, e, io, wantsJson(rest));
  }
}

/** Every name `kernmod <command>` takes, for "did you mean". */
const ALL_COMMANDS = [...COMMANDS, 'doctor', 'depmod', 'apply', 'completion', 'help'];

/** Edit distance (insert, delete, replace, swap of neighbours), small strings only. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The command meant by a mistyped one: the closest within two edits, when only one is that close. */
export function didYouMean(typed: string): string | undefined {
  const scored = ALL_COMMANDS.map((c) => ({ c, d: distance(typed, c) }))
    .filter((x) => x.d <= 2)
    .sort((x, y) => x.d - y.d);
  return scored.length > 0 && (scored.length === 1 || scored[0]!.d < scored[1]!.d) ? scored[0]!.c : undefined;
}

// Every command's code is imported on demand, so a command pays only for its own modules at start-up.
async function run(command: string | undefined, rest: string[], io: Io): Promise<number> {
  switch (command) {
    case 'insmod':
    case 'rmmod': {
      let km: Kernmod;
      try {
        km = await defaultKernmod();
      } catch (e) {
        io.err(`${command}: ERROR: ${(e as Error).message}\n`);
        return 1;
      }
      if (command === 'rmmod') return (await import('./rmmod.js')).rmmod(rest, km, io);
      await withNativeXz();
      return (await import('./insmod.js')).insmod(rest, km, io);
    }
    case 'lsmod': {
      const { lsmodCommand } = await import('./lsmod.js');
      return lsmodCommand(rest, io);
    }
    case 'modinfo': {
      await withNativeXz();
      const { modinfoCommand } = await import('./modinfo/index.js');
      return modinfoCommand(rest, io);
    }
    case 'modprobe': {
      const { modprobeCommand, unavailableKernmod } = await import('./modprobe.js');
      // The backend (and the xz addon) only when a module is loaded or removed: -D/-n/-c/-R need neither.
      const km = async (): Promise<Kernmod> => {
        await withNativeXz();
        try {
          return await defaultKernmod();
        } catch (e) {
          return unavailableKernmod(e as Error);
        }
      };
      return modprobeCommand(rest, km, io);
    }
    case 'doctor':
      await withNativeXz();
      return (await import('./doctor.js')).doctorCommand(rest, io);
    case 'apply': {
      await withNativeXz();
      let km: Kernmod | undefined; // the backend is loaded only when a load or unload needs it
      const { withBackend } = await import('../kernmod.js');
      const { loadBackend } = await import('../backend/select.js');
      return (await import('./apply.js')).applyCommand(rest, io, { kernmod: () => (km ??= withBackend(loadBackend())) });
    }
    case 'modload':
      return (await import('./modload.js')).modloadCommand(rest, io);
    case 'modunload':
      return (await import('./modunload.js')).modunloadCommand(rest, io);
    case 'depmod':
      await withNativeXz();
      return (await import('./depmod.js')).depmodCommand(rest, io);
    case 'modstat':
      return (await import('./modstat.js')).modstatCommand(rest, io);
    case 'completion':
      return (await import('./completion.js')).completionCommand(rest, io);
    case 'vm': {
      endQuietlyWhenOutputCloses(); // the VM rig writes through process.stdout, the rest through processIo
      const { vmCommand } = await import('../../vm/cli.js');
      return vmCommand(rest);
    }
    case '--version':
    case '-V':
      io.out(versionText());
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      io.out(USAGE);
      return command === undefined ? 1 : 0;
    default: {
      const meant = didYouMean(command);
      io.err(`kernmod: unknown command '${command}'${meant ? ` (did you mean '${meant}'?)` : ''}\n${USAGE}`);
      return 1;
    }
  }
}

// Run when executed (bin), not when imported by tests.
function invokedDirectly(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.exitCode = reportFailure(undefined, e, processIo);
    },
  );
}
