// An install or remove command from modprobe.d sees MODPROBE_OPTIONS as kmod's modprobe leaves it:
// kmod appends -C FILE, -q and -v (and -s) to its own MODPROBE_OPTIONS as it parses them
// (tools/modprobe.c env_modprobe_options_append), so a nested `modprobe` in the command inherits them.
// Where kmod's modprobe is installed it runs the same install-only module in the same test (nothing is
// loaded: an install command replaces the load, so this works on a host without module support).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modprobeCommand, unavailableKernmod } from '../../lib/cli/modprobe.js';
import { tempDir } from './modprobe-helpers.js';

const kmodVersion = spawnSync('modprobe', ['-V'], { encoding: 'utf8' });
const haveKmod = kmodVersion.status === 0 && /^kmod version/.test(kmodVersion.stdout);

function scratch() {
  const root = tempDir('install-env');
  mkdirSync(join(root, 'lib/modules/9.9'), { recursive: true });
  writeFileSync(join(root, 'lib/modules/9.9/modules.dep'), '');
  const conf = join(root, 'conf');
  mkdirSync(conf);
  const out = join(root, 'seen');
  // The file name travels in the environment too: no test value is ever shell syntax.
  writeFileSync(
    join(conf, 'a.conf'),
    'install foo printf "[%s]" "$MODPROBE_OPTIONS" > "$SEEN_FILE"\nremove foo printf "[%s]" "$MODPROBE_OPTIONS" > "$SEEN_FILE"\n',
  );
  return { root, conf, out };
}

async function ours(argv: string[], options: string | undefined, out: string): Promise<{ status: number; seen: string }> {
  rmSync(out, { force: true });
  const saved = process.env.SEEN_FILE;
  process.env.SEEN_FILE = out;
  try {
    const status = await modprobeCommand(
      argv,
      unavailableKernmod(new Error('nothing is loaded here')),
      { out: () => {}, err: () => {} },
      { cmdline: false, options },
    );
    return { status, seen: readFileSync(out, 'utf8') };
  } finally {
    if (saved === undefined) delete process.env.SEEN_FILE;
    else process.env.SEEN_FILE = saved;
  }
}

function kmod(argv: string[], options: string | undefined, out: string): { status: number; seen: string } {
  rmSync(out, { force: true });
  const env: Record<string, string | undefined> = { ...process.env, SEEN_FILE: out, MODPROBE_OPTIONS: options };
  if (options === undefined) delete env.MODPROBE_OPTIONS;
  const r = spawnSync('modprobe', argv, { env });
  return { status: r.status ?? -1, seen: readFileSync(out, 'utf8') };
}

describe("install and remove commands inherit MODPROBE_OPTIONS as kmod's modprobe extends it", () => {
  const s = scratch();
  const cases: Array<[string[], string | undefined, string]> = [
    [['-q', '-v', '-d', s.root, '-S', '9.9', '-C', s.conf, 'foo'], undefined, `[-q -v -C ${s.conf}]`],
    [['-d', s.root, '-q', '-S', '9.9', '--config', s.conf, 'foo'], '-v', `[-v -v -q -C ${s.conf}]`],
    [['-d', s.root, '-S', '9.9', '-C', s.conf, 'foo'], undefined, `[-C ${s.conf}]`],
    [['-d', s.root, '-S', '9.9', '-C', s.conf, '-r', 'foo'], '', `[ -C ${s.conf}]`],
  ];
  const named = cases.map(([argv, options, expected]) => ({
    line: argv.join(' ').replaceAll(s.root, 'ROOT'),
    env: JSON.stringify(options),
    argv,
    options,
    expected,
  }));
  it.each(named)('modprobe $line, MODPROBE_OPTIONS=$env', async ({ argv, options, expected }) => {
    const r = await ours(argv, options, s.out);
    expect(r).toEqual({ status: 0, seen: expected });
    if (haveKmod) expect(kmod(argv, options, s.out)).toEqual(r);
  });
});
