// The bundled CLI (scripts/bundle-cli.mjs, what `bin` points to) says and does what the CLI's sources
// say: each command's stdout, stderr and exit status are compared with main() run in-process. The
// bundle is built into a scratch package root laid out as the real one (dist/lib/cli/ three levels
// down, package.json, node_modules and build/ beside it), so the paths it finds from its own location
// (package.json, the native addons) are exercised, not assumed.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../lib/cli/main.js';
import { buildElf, strings } from '../fixtures/elf-builder.js';

const root = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
const scratch = mkdtempSync(join(tmpdir(), 'kernmod-bundle-'));
const bundle = join(scratch, 'dist/lib/cli/kernmod.cjs');
const files = mkdtempSync(join(tmpdir(), 'kernmod-bundle-files-'));

beforeAll(async () => {
  copyFileSync(join(root, 'package.json'), join(scratch, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'));
  if (existsSync(join(root, 'build'))) symlinkSync(join(root, 'build'), join(scratch, 'build'));
  const { bundleCli } = (await import(join(root, 'scripts/bundle-cli.mjs'))) as { bundleCli: (outfile: string) => Promise<void> };
  await bundleCli(bundle);
}, 120_000);

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  rmSync(files, { recursive: true, force: true });
});

/** stdout, stderr and status, with the scratch root named as the checkout (the addon's path). */
function runBundle(args: string[]) {
  const r = spawnSync(process.execPath, [bundle, ...args], { encoding: 'utf8', timeout: 60_000 });
  const unscratch = (s: string) => s.split(scratch).join(root);
  return { out: unscratch(r.stdout), err: unscratch(r.stderr), status: r.status };
}

async function runSources(args: string[]) {
  const o = { out: '', err: '' };
  const status = await main(args, { out: (s: string) => void (o.out += s), err: (s: string) => void (o.err += s) });
  return { ...o, status };
}

const moduleFile = join(files, 'startup_demo.ko');
writeFileSync(
  moduleFile,
  buildElf({
    class: 64,
    endian: 'little',
    sections: [
      { name: '.modinfo', data: strings('license=GPL', 'description=start-up demo', 'vermagic=6.1.0 SMP mod_unload', 'name=startup_demo', 'depends=') },
      { name: '.gnu.linkonce.this_module', data: new Uint8Array(0x400) },
    ],
  }),
);

describe('the bundled CLI', () => {
  it('is what package.json bin points to, and what the build writes', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
    expect(pkg.bin.kernmod).toBe('dist/lib/cli/kernmod.cjs');
    expect(pkg.scripts['build:ts']).toMatch(/node scripts\/bundle-cli\.mjs/);
  });

  it.each([
    ['--help'],
    ['--version'],
    ['no-such-command'],
    ['modinfo', moduleFile],
    ['modinfo', '-F', 'vermagic', moduleFile],
    ['modinfo', '--json', moduleFile],
    ['modinfo', join(files, 'missing.ko')],
    ['insmod', join(files, 'missing.ko')],
    ['lsmod', '--help'],
    ['modprobe', '-D', '-d', join(files, 'no-tree'), 'anything'],
  ])('prints what the sources print: %s', async (...args: string[]) => {
    expect(runBundle(args)).toEqual(await runSources(args));
  });

  it('finds the native addon the sources find (doctor --json names it)', async () => {
    const bundled = JSON.parse(runBundle(['doctor', '--json']).out) as { backend: unknown };
    const sources = JSON.parse((await runSources(['doctor', '--json'])).out) as { backend: unknown };
    expect(bundled.backend).toEqual(sources.backend);
  });
});
