// `install` and `remove` commands from modprobe.d, run as kmod runs them: through /bin/sh (system(3)),
// with MODPROBE_MODULE=<module> in the environment and `$CMDLINE_OPTS` replaced by the module's
// options. The command's output goes where the caller's does (stdio inherited), as with system().
import { spawn } from 'node:child_process';

/** Runs a shell command and resolves to its exit status (128 + signal number if it was killed). */
export type CommandRunner = (command: string, env: { MODPROBE_MODULE: string }) => Promise<number>;

export const runShellCommand: CommandRunner = (command, env) =>
  new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...env }, stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      // A signal number is not exposed by name here; 128+n as the shell reports it, 1 if unknown.
      resolve(code ?? (signal ? 128 + (SIGNALS[signal] ?? 0) : 1));
    });
  });

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };

/** kmod's $CMDLINE_OPTS substitution: every occurrence replaced by the options string. */
export function expandCommand(command: string, options: string): string {
  return command.split('$CMDLINE_OPTS').join(options);
}
