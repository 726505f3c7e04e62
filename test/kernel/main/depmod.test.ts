// depmod in a real kernel's world (root, inside the qemu guest): our exporter/importer pair copied under
// extra/ of a scratch module tree in /tmp, `kernmod depmod -b` on it, then `kernmod modprobe -d` loads
// kernmod_importer and the index we wrote must pull in kernmod_exporter first (seen in /proc/modules
// and in the exporter's sysfs holders). kmod's depmod runs on a second copy of the same tree in this
// guest, and every index must be byte-identical.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { release as osRelease } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OUTPUT_FILES } from '../../../lib/depmod/outputs.js';
import { holders, procModule, requireKernel, testModules } from '../helpers.js';

requireKernel();
const { modules: m } = testModules();
const release = osRelease();
const cli = new URL('../../../dist/lib/cli/main.js', import.meta.url).pathname;

function kernmod(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
}

/** A tree BASE/lib/modules/RELEASE with the two test modules under extra/. */
function tree(): string {
  const base = mkdtempSync('/tmp/kernmod-depmod-'); // the guest's /tmp is a writable tmpfs
  const extra = join(base, 'lib/modules', release, 'extra');
  mkdirSync(extra, { recursive: true });
  for (const f of [m.exporter, m.importer]) copyFileSync(f, join(extra, basename(f)));
  return base;
}

const bases: string[] = [];

describe('depmod on a real kernel', () => {
  afterEach(() => {
    for (const name of ['kernmod_importer', 'kernmod_exporter']) if (procModule(name)) spawnSync('rmmod', [name]);
    for (const b of bases.splice(0)) rmSync(b, { recursive: true, force: true });
  });

  it('kernmod depmod writes an index through which kernmod modprobe loads the importer after its exporter', () => {
    for (const name of ['kernmod_importer', 'kernmod_exporter'])
      expect(procModule(name), `${name} must not be loaded before the test`).toBeUndefined();
    const ours = tree();
    const theirs = tree();
    bases.push(ours, theirs);

    const d = kernmod(['depmod', '-b', ours, release]);
    expect(d.stderr).toContain('could not open modules.order'); // a tree of two modules has none: kmod warns too
    expect(d.status).toBe(0);
    const k = spawnSync('depmod', ['-b', theirs, release], { encoding: 'utf8' });
    expect(k.status).toBe(0);
    expect(d.stderr.replaceAll(ours, 'BASE')).toBe(k.stderr.replaceAll(theirs, 'BASE'));
    const dir = (b: string) => join(b, 'lib/modules', release);
    for (const f of OUTPUT_FILES)
      expect({ f, same: readFileSync(join(dir(ours), f)).equals(readFileSync(join(dir(theirs), f))) }).toEqual({ f, same: true });
    expect(readFileSync(join(dir(ours), 'modules.dep'), 'utf8')).toContain('extra/kernmod_importer.ko: extra/kernmod_exporter.ko\n');

    const p = kernmod(['modprobe', '-d', ours, 'kernmod_importer']);
    expect(p.stderr).not.toMatch(/ERROR|FATAL/); // the kernel's taint warnings may be relayed
    expect(p.status).toBe(0);
    expect(procModule('kernmod_exporter')?.state).toBe('Live');
    expect(procModule('kernmod_importer')?.state).toBe('Live');
    expect(holders('kernmod_exporter')).toEqual(['kernmod_importer']);
  });
});
