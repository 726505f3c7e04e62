// Man pages and shell completion (issue #20), generated from the option tables the commands parse with:
// every option a command accepts is documented and completed, and package.json ships every page.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bashCompletion, zshCompletion } from '../../lib/cli/completion.js';
import { getoptLong } from '../../lib/cli/getopt.js';
import { main } from '../../lib/cli/main.js';
import { manPages } from '../../lib/cli/manpage.js';
import { COMMAND_DOCS, MODPROBE_OPTIONS } from '../../lib/cli/options.js';

const root = new URL('../..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  man: string[];
  files: string[];
  scripts: Record<string, string>;
};

function capture() {
  const o = { out: '', err: '' };
  return { o, io: { out: (s: string) => void (o.out += s), err: (s: string) => void (o.err += s) } };
}

describe('man pages', () => {
  const pages = manPages('1.2.3', '2026-12-02');
  it('one for kernmod and one per command, each listed in package.json "man" and built into dist/man', () => {
    expect(pages.map(([name]) => `dist/man/${name}`)).toEqual(pkg.man);
    expect(pkg.files).toContain('dist/man');
    expect(pkg.scripts['build:ts']).toMatch(/node scripts\/gen-man\.mjs/);
  });
  it('every command names the table it parses, and each of its options is on its page', () => {
    for (const c of COMMAND_DOCS) {
      const page = pages.find(([n]) => n === `kernmod-${c.name}.1`)![1];
      for (const o of c.options) {
        if (o.short)
          expect({ page: c.name, option: o.short, found: page.includes(`\\fB\\-${o.short}\\fR`) }).toEqual({
            page: c.name,
            option: o.short,
            found: true,
          });
        if (o.long)
          expect({ page: c.name, option: o.long, found: page.includes(`\\-\\-${o.long.replace(/-/g, '\\-')}`) }).toEqual({
            page: c.name,
            option: o.long,
            found: true,
          });
      }
    }
  });
  it("apply's and doctor's --help list every option of the table they parse with", { timeout: 60_000 }, async () => {
    for (const c of COMMAND_DOCS.filter((d) => d.name === 'apply' || d.name === 'doctor')) {
      const { o, io } = capture();
      expect(await main([c.name, '--help'], io)).toBe(0);
      for (const opt of c.options) expect(o.out).toContain(`--${opt.long}`);
    }
  });
  it('every option modprobe parses is on its page', () => {
    const page = pages.find(([n]) => n === 'kernmod-modprobe.1')![1];
    for (const o of MODPROBE_OPTIONS) if (o.long) expect(page).toContain(`\\-\\-${o.long.replace(/-/g, '\\-')}`);
  });
  it('every page renders without a warning from groff', { timeout: 60_000 }, () => {
    if (spawnSync('groff', ['--version']).status !== 0) return; // no groff here: nothing to render with
    const dir = mkdtempSync(join(tmpdir(), 'kernmod-man-'));
    for (const [name, text] of pages) {
      writeFileSync(join(dir, name), text);
      const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', join(dir, name)], { encoding: 'utf8' });
      expect({ name, status: r.status, warnings: r.stderr }).toEqual({ name, status: 0, warnings: '' });
    }
  });
});

describe('kernmod completion', () => {
  it('prints the bash and zsh scripts; anything else is a usage error', async () => {
    const bash = capture();
    expect(await main(['completion', 'bash'], bash.io)).toBe(0);
    expect(bash.o.out).toBe(bashCompletion());
    const zsh = capture();
    expect(await main(['completion', 'zsh'], zsh.io)).toBe(0);
    expect(zsh.o.out).toBe(zshCompletion());
    const bad = capture();
    expect(await main(['completion', 'fish'], bad.io)).toBe(1);
    expect(bad.o.err).toMatch(/^Usage: kernmod completion bash\|zsh/);
  });

  const haveBash = spawnSync('bash', ['--version']).status === 0;
  const complete = (words: string[]) => {
    const dir = mkdtempSync(join(tmpdir(), 'kernmod-complete-'));
    writeFileSync(join(dir, 'c.bash'), bashCompletion());
    const script =
      `source ${dir}/c.bash; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); ` +
      `COMP_CWORD=${words.length - 1}; _kernmod; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', cwd: dir });
    expect(r.stderr).toBe('');
    return r.stdout.split('\n').filter(Boolean).sort();
  };

  it.skipIf(!haveBash)('bash completes commands, and each option the command parses (and only those)', { timeout: 60_000 }, () => {
    expect(complete(['kernmod', 'modp'])).toEqual(['modprobe']);
    const longs = complete(['kernmod', 'modprobe', '--']);
    const parsed = MODPROBE_OPTIONS.filter((o) => o.long).map((o) => `--${o.long}`);
    expect(longs).toEqual([...parsed].sort());
    for (const l of longs)
      expect(
        getoptLong([l.startsWith('--') && MODPROBE_OPTIONS.find((o) => `--${o.long}` === l)?.arg ? `${l}=x` : l], MODPROBE_OPTIONS).error,
      ).toBeUndefined();
    // as insmod/rmmod/modprobe links, the command is the program's name
    expect(complete(['modprobe', '--show-e'])).toEqual(['--show-exports']);
    expect(complete(['kernmod', 'lsmod', '-'])).toEqual(['--help', '--json', '--version', '-V', '-h']);
    // the NetBSD tools: their getopt letters and kernmod's two long options
    expect(complete(['kernmod', 'modstat', '-'])).toEqual(['--help', '--json', '-A', '-a', '-e', '-k', '-n']);
    expect(complete(['kernmod', 'depmod', '--ou'])).toEqual(['--outdir']);
  });

  it('zsh gets every command and each option the command parses', () => {
    const z = zshCompletion();
    for (const c of COMMAND_DOCS) expect(z).toContain(`'${c.name}:`);
    for (const o of MODPROBE_OPTIONS) if (o.long) expect(z).toContain(`'--${o.long}`);
    const haveZsh = spawnSync('zsh', ['--version']).status === 0;
    if (haveZsh) expect(spawnSync('zsh', ['-n', '-c', z]).status).toBe(0);
  });
});
