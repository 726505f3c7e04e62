// depmod over each installed Debian module tree (6.1's .ko, 6.12's .ko.xz), against kmod's depmod run
// in the same test: both work on symlink farms of the tree (kmod follows the links as it does for a
// copy, and the paths it writes are the farm's), and every file must be byte-identical. Skipped where
// kmod or the trees are absent. Slow by nature (kmod itself takes 4-30 s per tree), hence the timeouts.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { depmod } from '../../lib/depmod/depmod.js';
import { OUTPUT_FILES } from '../../lib/depmod/outputs.js';

const DEPMOD = ['/usr/sbin/depmod', '/sbin/depmod'].find((p) => existsSync(p));
const releases =
  DEPMOD && existsSync('/lib/modules')
    ? readdirSync('/lib/modules')
        .filter((r) => existsSync(`/lib/modules/${r}/kernel`) && existsSync(`/lib/modules/${r}/modules.order`))
        .sort()
    : [];
const scratch = mkdtempSync(join(tmpdir(), 'kernmod-depmod-trees-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }), 300_000); // ~16,000 links

/** BASE/lib/modules/RELEASE with kernel/ as a farm of symlinks and the tree's own input files copied. */
function farm(base: string, release: string): string {
  const dir = join(base, 'lib/modules', release);
  mkdirSync(dir, { recursive: true });
  const cp = spawnSync('cp', ['-as', `/lib/modules/${release}/kernel`, dir]);
  if (cp.status !== 0) throw new Error(`cp -as failed: ${cp.stderr}`);
  for (const f of ['modules.order', 'modules.builtin', 'modules.builtin.modinfo'])
    if (existsSync(`/lib/modules/${release}/${f}`)) copyFileSync(`/lib/modules/${release}/${f}`, join(dir, f));
  return dir;
}

describe.skipIf(releases.length === 0)('depmod on the installed Debian trees, byte-identical to kmod', () => {
  for (const release of releases) {
    it(`${release}: all ten files`, { timeout: 600_000 }, async () => {
      const kmodDir = farm(join(scratch, `kmod-${release}`), release);
      const oursDir = farm(join(scratch, `ours-${release}`), release);
      const k = spawnSync(DEPMOD!, ['-b', join(scratch, `kmod-${release}`), release], { encoding: 'utf8' });
      expect(k.status).toBe(0);
      const r = await depmod({ basedir: join(scratch, `ours-${release}`), kernelVersion: release });
      expect(r.messages).toEqual([]);
      expect(k.stderr).toBe('');
      expect(r.written).toEqual([...OUTPUT_FILES]);
      for (const f of OUTPUT_FILES) {
        const same = readFileSync(join(oursDir, f)).equals(readFileSync(join(kmodDir, f)));
        expect({ file: f, same }).toEqual({ file: f, same: true });
      }
    });
  }
});
