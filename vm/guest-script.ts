// The script the guest runs in the chroot (/tmp/kernmod-io/kernmod-run.sh). The command travels in
// this file rather than on the kernel command line, which has a small length limit, is visible to
// every process via /proc/cmdline and has no quoting rules of its own. Pure.

/** POSIX-sh single-quote a word. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function buildRunScript(opts: { command: readonly string[]; cwd: string; env: Record<string, string> }): string {
  if (opts.command.length === 0) throw new Error('kernmod vm: empty command');
  const lines = [
    '# written by kernmod vm/run.ts; runs in the guest chroot under env -i',
    `cd ${shellQuote(opts.cwd)} || { echo ${shellQuote(`kernmod vm: cannot cd to ${opts.cwd} in the guest`)} >&2; exit 125; }`,
  ];
  for (const [k, v] of Object.entries(opts.env)) {
    if (!ENV_NAME.test(k)) throw new Error(`kernmod vm: invalid environment variable name ${JSON.stringify(k)}`);
    lines.push(`export ${k}=${shellQuote(v)}`);
  }
  lines.push(`exec ${opts.command.map(shellQuote).join(' ')}`, '');
  return lines.join('\n');
}
