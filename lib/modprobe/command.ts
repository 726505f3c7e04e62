// `install` and `remove` commands from modprobe.d, run as kmod runs them: through /bin/sh (system(3)),
// with MODPROBE_MODULE=<module> in the environment. The command's output goes where the caller's does
// (stdio inherited), as with system().
//
// kmod pastes the module's options into the command text in place of `$CMDLINE_OPTS`, so the shell
// parses them: a caller's `x=1;id` runs `id` as root. Here the options travel in the environment
// (CMDLINE_OPTS) and the command names the variable, so the shell expands them as data (word splitting
// and globbing, as kmod's unquoted paste gets too) and no byte of them is ever shell syntax — also in
// a nested `sh -c '... $CMDLINE_OPTS'`, which sees the variable, never the text.

/** node:child_process, loaded when a command runs (start-up: it brings net, stream and ~60 more internal modules to every modprobe -D). */
const childProcess = () => process.getBuiltinModule('node:child_process');

/** What a command gets in its environment: the module, and its options for `$CMDLINE_OPTS`. */
export interface CommandEnv {
  MODPROBE_MODULE: string;
  CMDLINE_OPTS?: string;
  /** What a nested `modprobe` in the command reads first (see runShellCommandWith). */
  MODPROBE_OPTIONS?: string;
}

/** Runs a shell command and resolves to its exit status (128 + signal number if it was killed). */
export type CommandRunner = (command: string, env: CommandEnv) => Promise<number>;

export const runShellCommand: CommandRunner = (command, env) =>
  new Promise((resolve, reject) => {
    const child = childProcess().spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...env }, stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      // A signal number is not exposed by name here; 128+n as the shell reports it, 1 if unknown.
      resolve(code ?? (signal ? 128 + (SIGNALS[signal] ?? 0) : 1));
    });
  });

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };

/**
 * kmod's $CMDLINE_OPTS substitution, made safe: every occurrence (kmod also replaces it when it starts
 * a longer name, `$CMDLINE_OPTSX`) becomes `${CMDLINE_OPTS}`, read from the environment that
 * `commandEnv` builds.
 */
export function expandCommand(command: string): string {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell's ${CMDLINE_OPTS}, expanded by /bin/sh
  return command.split('$CMDLINE_OPTS').join('${CMDLINE_OPTS}');
}

/** The environment of an install (options given) or remove command. */
export function commandEnv(module: string, options?: string): CommandEnv {
  return options === undefined ? { MODPROBE_MODULE: module } : { MODPROBE_MODULE: module, CMDLINE_OPTS: options };
}

/**
 * A runner whose commands get MODPROBE_OPTIONS as kmod's env_modprobe_options_append leaves it: modprobe
 * adds the words of `-C FILE`, `-q`, `-v` (and `-s`) to the `old` value as it parses them, `old + " " +
 * word` each time (so an empty old value leaves a leading space), and its install/remove commands inherit
 * the result: a nested `modprobe` is as quiet or verbose, and reads the same config, as the one that ran
 * it. Nothing is added when nothing was there or added.
 */
export function runShellCommandWith(old: string | undefined, words: readonly string[]): CommandRunner {
  const all = old === undefined ? words : [old, ...words];
  if (all.length === 0) return runShellCommand;
  const MODPROBE_OPTIONS = all.join(' ');
  return (command, env) => runShellCommand(command, { ...env, MODPROBE_OPTIONS });
}
