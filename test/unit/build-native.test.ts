// `npm install` must succeed on a host without a C++ toolchain: the install script prints one warning
// and exits 0 (kernmod then uses ffi-rs). Shown on a copy of the package with an empty PATH, so no
// python3, make or g++ can be found; the real build/ is left alone.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;

function copy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kernmod-nocc-'));
  for (const f of ['binding.gyp', 'native', 'scripts/build-native.mjs', 'package.json'])
    cpSync(join(root, f), join(dir, f), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

describe('native build without a toolchain', () => {
  it('--tolerant (the install script) warns once and exits 0', () => {
    const dir = copy();
    const r = spawnSync(process.execPath, [join(dir, 'scripts/build-native.mjs'), '--tolerant'], {
      cwd: dir,
      env: { PATH: '/nonexistent', HOME: dir },
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(r.stderr.match(/kernmod: the native addon was not built/g)).toHaveLength(1);
    expect(r.stderr).toMatch(/falling back to the ffi backend/);
  });

  it('without --tolerant (npm run build:native) it fails loudly', () => {
    const dir = copy();
    const r = spawnSync(process.execPath, [join(dir, 'scripts/build-native.mjs')], {
      cwd: dir,
      env: { PATH: '/nonexistent', HOME: dir },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot build the native addon/);
  });
});
