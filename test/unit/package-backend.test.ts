// How an installed package finds its addon (a local build, else the prebuilt for this platform, else
// the ffi fallback), what the install script does when a prebuilt fits, and what `kernmod doctor` says.
// Shown on scratch package roots holding copies of this checkout's addon; the real build/ is left alone.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { elfInterpreter, linuxLibc, loadAddon, prebuildTriple } from '../../lib/backend/addon.js';
import { selectBackend } from '../../lib/backend/select.js';
import { createFakeBackend } from '../../lib/backend/fake.js';
import { backendReport } from '../../lib/cli/doctor.js';
import { doctorCommand } from '../../lib/cli/doctor.js';

const root = new URL('../..', import.meta.url).pathname;
const builtAddon = join(root, 'build/Release/kernmod.node');
const TRIPLE = 'linux-x64-glibc';

/** A minimal ELF executable header with one program header: PT_INTERP naming `interp`, or PT_NULL. */
function elfExecutable(interp: string | undefined, is64: boolean): Buffer {
  const text = Buffer.from(`${interp ?? ''}\0`);
  const [ehsize, phentsize] = is64 ? [64, 56] : [52, 32];
  const b = Buffer.alloc(ehsize + phentsize + text.length);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = is64 ? 2 : 1;
  b[5] = 1; // little-endian
  b[6] = 1;
  b.writeUInt16LE(2, 16); // ET_EXEC
  if (is64) {
    b.writeBigUInt64LE(BigInt(ehsize), 32);
    b.writeUInt16LE(phentsize, 54);
    b.writeUInt16LE(1, 56);
  } else {
    b.writeUInt32LE(ehsize, 28);
    b.writeUInt16LE(phentsize, 42);
    b.writeUInt16LE(1, 44);
  }
  const ph = ehsize;
  b.writeUInt32LE(interp === undefined ? 0 : 3, ph);
  if (is64) {
    b.writeBigUInt64LE(BigInt(ehsize + phentsize), ph + 8);
    b.writeBigUInt64LE(BigInt(text.length), ph + 32);
  } else {
    b.writeUInt32LE(ehsize + phentsize, ph + 4);
    b.writeUInt32LE(text.length, ph + 16);
  }
  text.copy(b, ehsize + phentsize);
  return b;
}

function scratchRoot(layout: { built?: boolean; prebuilt?: 'good' | 'broken' }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kernmod-addon-'));
  writeFileSync(join(dir, 'package.json'), '{"name":"kernmod"}');
  if (layout.built) {
    mkdirSync(join(dir, 'build/Release'), { recursive: true });
    cpSync(builtAddon, join(dir, 'build/Release/kernmod.node'));
  }
  if (layout.prebuilt) {
    mkdirSync(join(dir, 'prebuilds', TRIPLE), { recursive: true });
    if (layout.prebuilt === 'good') cpSync(builtAddon, join(dir, 'prebuilds', TRIPLE, 'kernmod.node'));
    else writeFileSync(join(dir, 'prebuilds', TRIPLE, 'kernmod.node'), 'not an ELF file');
  }
  return dir;
}

describe('the addon loader', () => {
  it('names prebuilds by platform, arch and (on Linux) libc', () => {
    expect(linuxLibc('netbsd')).toBeUndefined();
    expect(prebuildTriple('linux', 'arm64', 'glibc')).toBe('linux-arm64-glibc');
    expect(prebuildTriple('netbsd', 'x64', undefined)).toBe('netbsd-x64');
  });

  // The libc is the one this Node runs on, not what /lib holds: a glibc host may have musl's loader
  // installed too (Debian's musl package puts /lib/ld-musl-x86_64.so.1 there).
  it('tells the libc by the dynamic loader the Node executable names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kernmod-libc-'));
    const exe = (name: string, interp: string | undefined, is64 = true) => {
      const path = join(dir, name);
      writeFileSync(path, elfExecutable(interp, is64));
      return path;
    };
    expect(linuxLibc('linux', exe('musl-node', '/lib/ld-musl-x86_64.so.1'))).toBe('musl');
    expect(linuxLibc('linux', exe('musl-node-arm', '/lib/ld-musl-armhf.so.1', false))).toBe('musl');
    expect(linuxLibc('linux', exe('glibc-node', '/lib64/ld-linux-x86-64.so.2'))).toBe('glibc');
    expect(linuxLibc('linux', exe('static-node', undefined))).toBe('glibc');
    expect(linuxLibc('linux', join(dir, 'missing'))).toBe('glibc');
    if (process.platform === 'linux') expect(elfInterpreter(process.execPath)).toMatch(/\/ld-/);
  });

  it("names this platform's prebuilds directory", () => {
    if (process.platform === 'linux') expect(prebuildTriple()).toMatch(new RegExp(`^linux-${process.arch}-(glibc|musl)$`));
  });

  it.skipIf(process.platform !== 'linux' || process.arch !== 'x64')('uses the prebuilt addon when nothing was built here', () => {
    const dir = scratchRoot({ prebuilt: 'good' });
    const a = loadAddon<{ deleteModuleSync(): number }>('kernmod', dir, TRIPLE);
    expect(a).toMatchObject({ source: 'prebuilt', path: join(dir, 'prebuilds', TRIPLE, 'kernmod.node') });
    expect(typeof a.binding.deleteModuleSync).toBe('function');
  });

  // The rule (lib/backend/addon.ts): an installed package has build/ only when the install found no
  // fitting prebuilt or the user asked for a build; in a checkout, build/ is the code in front of you and
  // a stale prebuilds/ must not shadow it. So a build here wins, and the prebuilt serves when there is none.
  it.skipIf(process.platform !== 'linux' || process.arch !== 'x64')(
    'prefers an addon built here over a prebuilt one (it exists only when asked for or when no prebuilt fits)',
    () => {
      const dir = scratchRoot({ built: true, prebuilt: 'good' });
      expect(loadAddon('kernmod', dir, TRIPLE)).toMatchObject({ source: 'built here', path: join(dir, 'build/Release/kernmod.node') });
    },
  );

  it.skipIf(process.platform !== 'linux' || process.arch !== 'x64')(
    'falls back to the prebuilt addon when the build here does not load',
    () => {
      const dir = scratchRoot({ built: true, prebuilt: 'good' });
      writeFileSync(join(dir, 'build/Release/kernmod.node'), 'a broken build');
      expect(loadAddon('kernmod', dir, TRIPLE)).toMatchObject({ source: 'prebuilt', path: join(dir, 'prebuilds', TRIPLE, 'kernmod.node') });
    },
  );

  it('when no addon loads, one error names every place tried and why', () => {
    const everyPlace = new RegExp(
      /kernmod\.node could not be loaded: built here \(build\/Release\): Could not locate the bindings file.*; /.source +
        /prebuilt \(prebuilds\/linux-x64-glibc\): none shipped for this platform/.source,
    );
    expect(() => loadAddon('kernmod', scratchRoot({}), TRIPLE)).toThrow(everyPlace);
    expect(() => loadAddon('kernmod', scratchRoot({ prebuilt: 'broken' }), TRIPLE)).toThrow(
      /prebuilt \(prebuilds\/linux-x64-glibc\): .*(invalid ELF header|too short)/,
    );
  });
});

describe('which backend, and why (kernmod doctor)', () => {
  it('on this checkout: the native addon built here', () => {
    const { backend, choice } = selectBackend('auto');
    expect(backend.name).toBe('native');
    expect(choice).toMatchObject({ name: 'native', source: 'built here', skipped: [] });
    expect(backendReport()).toMatchObject({
      status: 'info',
      message: expect.stringMatching(
        new RegExp(
          /^backend: native, the addon built on this machine \(.*kernmod\.node\), used before any prebuilt one: /.source +
            /it exists only when asked for or when no prebuilt fitted$/.source,
        ),
      ),
    });
  });

  it('a prebuilt addon is reported as such, and why it is the one used', () => {
    const r = backendReport(() => ({
      choice: { name: 'native', source: 'prebuilt', path: '/app/node_modules/kernmod/prebuilds/linux-x64-glibc/kernmod.node', skipped: [] },
    }));
    expect(r).toMatchObject({
      status: 'info',
      message:
        'backend: native, the prebuilt addon shipped with kernmod ' +
        '(/app/node_modules/kernmod/prebuilds/linux-x64-glibc/kernmod.node), ' +
        'used because no addon was built here',
    });
  });

  it('the ffi fallback is a warning that carries the addon failure', () => {
    const r = backendReport(() => ({
      choice: { name: 'ffi', source: 'fallback', skipped: [{ name: 'native', reason: 'kernmod.node could not be loaded: ...' }] },
    }));
    expect(r.status).toBe('warn');
    expect(r.message).toBe(
      'backend: ffi fallback, slower than the addon, because the native addon did not load (native: kernmod.node could not be loaded: ...)',
    );
    expect(r.fix).toMatch(/--build-from-source/);
  });

  it('selectBackend records what was skipped before the fallback', () => {
    const { choice } = selectBackend('auto', {
      native: () => {
        throw new Error('no addon\nsecond line');
      },
      ffi: () => createFakeBackend(),
    });
    expect(choice).toEqual({ name: 'fake', source: 'injected', skipped: [{ name: 'native', reason: 'no addon' }] });
  });

  it('no backend at all is a failure line, not a stack trace', () => {
    const r = backendReport(() => {
      throw new Error('kernmod could not load a backend');
    });
    expect(r).toEqual({ status: 'fail', message: 'no backend can load: kernmod could not load a backend' });
  });

  it('the doctor command prints the backend line first, and puts it in --json', async () => {
    let out = '';
    const io = { out: (s: string) => void (out += s), err: (s: string) => void (out += s) };
    await doctorCommand([], io as never);
    expect(out.split('\n')[0]).toMatch(/^info {2}backend: native, the addon built on this machine/);
    out = '';
    await doctorCommand(['--json'], io as never);
    expect(JSON.parse(out).backend).toMatchObject({ status: 'info', choice: { name: 'native', source: 'built here' } });
  });
});

describe('the install script and prebuilt addons', { timeout: 60_000 }, () => {
  function installCopy(withPrebuilt: boolean): string {
    const dir = mkdtempSync(join(tmpdir(), 'kernmod-install-'));
    for (const f of ['binding.gyp', 'native', 'scripts/build-native.mjs', 'scripts/has-lzma.mjs', 'package.json'])
      cpSync(join(root, f), join(dir, f), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    if (withPrebuilt) {
      mkdirSync(join(dir, 'prebuilds', prebuildTriple()), { recursive: true });
      cpSync(builtAddon, join(dir, 'prebuilds', prebuildTriple(), 'kernmod.node'));
    }
    return dir;
  }
  const run = (dir: string, args: string[]) =>
    spawnSync(process.execPath, [join(dir, 'scripts/build-native.mjs'), ...args], {
      cwd: dir,
      env: { PATH: '/nonexistent', HOME: dir },
      encoding: 'utf8',
    });

  it.skipIf(process.platform !== 'linux' || process.arch !== 'x64')('builds nothing when a prebuilt addon loads here', () => {
    const r = run(installCopy(true), ['--tolerant']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
  });

  it.skipIf(process.platform !== 'linux' || process.arch !== 'x64')('builds from source when asked, even with a prebuilt', () => {
    const r = run(installCopy(true), ['--tolerant', '--build-from-source']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/the native addon was not built/); // no toolchain on this PATH: it tried
  });

  it('without a prebuilt it tries to build, warns when it cannot, and leaves the reason for the loader (npm hides the warning)', () => {
    const dir = installCopy(false);
    const r = run(dir, ['--tolerant']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/the native addon was not built .*\n.*npm rebuild kernmod --build-from-source/);
    expect(readFileSync(join(dir, 'build/kernmod-install-error.txt'), 'utf8')).toMatch(/^(Node's headers|node-gyp)/);
    expect(() => loadAddon('kernmod', dir, 'linux-x64-glibc')).toThrow(/; the build at install time failed: (Node's headers|node-gyp)/);
  });
});
