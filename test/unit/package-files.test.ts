// What `npm pack` ships: everything the install script and the runtime reach, and nothing that only the
// project's own tests and benchmarks use. Read from `npm pack --dry-run` (scripts ignored, so no build).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
  scripts: Record<string, string>;
  files: string[];
};

let shipped: Set<string>;

beforeAll(() => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, npm_config_loglevel: 'silent' },
  });
  expect(r.status, r.stderr).toBe(0);
  const [report] = JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>;
  shipped = new Set(report!.files.map((f) => f.path));
}, 60_000);

/** The `node scripts/X.mjs` invocations in a command line or a gyp file. */
function scriptsNamedIn(text: string): string[] {
  return [...text.matchAll(/\bnode\s+(scripts\/[\w./-]+\.m?js)/g)].map((m) => m[1]!);
}

describe('the packed file list', () => {
  it('ships every script that binding.gyp and the install script run', () => {
    const needed = [...scriptsNamedIn(readFileSync(join(root, 'binding.gyp'), 'utf8')), ...scriptsNamedIn(pkg.scripts.install ?? '')];
    expect(needed).toContain('scripts/has-lzma.mjs');
    for (const s of needed) expect(shipped, `${s} is run at install time`).toContain(s);
  });

  it('ships the sources the addon is built from', () => {
    expect(shipped).toContain('binding.gyp');
    for (const f of ['native/kernmod.cc', 'native/xz.cc', 'native/sys.h', 'native/sys_linux.cc']) expect(shipped).toContain(f);
  });

  it('ships the prebuilt addons directory (filled by `npm run prebuild` before packing)', () => {
    expect(pkg.files).toContain('prebuilds');
    expect(pkg.scripts.prepack).toMatch(/prebuild/);
  });

  it('ships the bin and every export target', () => {
    for (const target of Object.values(pkg.bin)) expect(shipped).toContain(normalize(target));
    for (const entry of Object.values(pkg.exports)) {
      for (const target of typeof entry === 'string' ? [entry] : Object.values(entry)) expect(shipped).toContain(normalize(target));
    }
  });

  it('ships no benchmark, test-only code or test fixtures', () => {
    const unwanted = [...shipped].filter((p) => /^(dist\/)?(bench|test|modules-src)\//.test(p) || /run-kernel-suite/.test(p));
    expect(unwanted).toEqual([]);
  });

  it('ships a source map only together with the sources it points to', () => {
    for (const map of [...shipped].filter((p) => p.endsWith('.map'))) {
      const { sources } = JSON.parse(readFileSync(join(root, map), 'utf8')) as { sources: string[] };
      for (const s of sources) expect(shipped, `${map} points to ${s}`).toContain(relative(root, join(root, dirname(map), s)));
    }
  });

  it('every relative import of a shipped module is shipped too', () => {
    const missing: string[] = [];
    for (const file of [...shipped].filter((p) => p.endsWith('.js'))) {
      const text = readFileSync(join(root, file), 'utf8');
      for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const target = relative(root, join(root, dirname(file), m[1]!));
        if (!shipped.has(target)) missing.push(`${file} -> ${target}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('ships every man page package.json lists, and the bash and zsh completion scripts', () => {
    const man = (pkg as unknown as { man: string[] }).man;
    expect(man.length).toBeGreaterThan(1);
    for (const page of man) expect(shipped, `man: ${page}`).toContain(normalize(page));
    for (const script of ['dist/completion/kernmod.bash', 'dist/completion/_kernmod']) expect(shipped).toContain(script);
  });

  it('the vm command finds its guest init script', () => {
    expect(shipped).toContain('vm/guest/init');
    expect(existsSync(join(root, 'vm/guest/init'))).toBe(true);
  });
});
