#!/usr/bin/env node
// `npm start`, the main job: build our hello/params test modules, then load one with parameters through
// `kernmod insmod`, show what the kernel reports (/proc/modules, sysfs parameters, dmesg), and unload it
// with `kernmod rmmod`. It runs on this host when the host has module support and we are root;
// otherwise in a qemu VM booting Debian's kernel (KERNMOD_KERNEL=6.1|6.12 picks which, default 6.1).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'dist/lib/cli/main.js');

function show(title, text) {
  console.log(`\n== ${title}\n${text.trimEnd()}`);
}

// `kernmod insmod` of a loaded module exits 1 by design; the demo shows that error and goes on.
function kernmodMayFail(...args) {
  try {
    kernmod(...args);
  } catch (e) {
    console.log(`(${e.message}, as expected)`);
  }
}

function kernmod(...args) {
  console.log(`\n$ kernmod ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`kernmod ${args[0]} exited with ${r.status}`);
}

/** The demonstration itself, on whatever kernel we are running on. */
function demo(modulesDir) {
  const manifest = JSON.parse(readFileSync(join(modulesDir, 'manifest.json'), 'utf8'));
  const ko = manifest.modules.params;
  console.log(`kernel ${release()}, backend ${process.env.KERNMOD_BACKEND ?? 'auto'}`);
  kernmod('insmod', ko, 'p_int=42', 'p_charp=hello from kernmod', 'p_array=1,2,3', 'p_bool');
  show(
    '/proc/modules',
    readFileSync('/proc/modules', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('kernmod_params '))
      .join('\n'),
  );
  const dir = '/sys/module/kernmod_params/parameters';
  show(dir, ['p_int', 'p_charp', 'p_array', 'p_bool'].map((p) => `${p} = ${readFileSync(join(dir, p), 'utf8').trim()}`).join('\n'));
  kernmodMayFail('insmod', '--json', ko); // already loaded: the kernel says EEXIST, kernmod says why
  kernmod('rmmod', 'kernmod_params');
  show(
    'dmesg (kernmod_params)',
    execFileSync('dmesg', { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('kernmod_params'))
      .join('\n'),
  );
  console.log(`\nkernmod_params loaded: ${readFileSync('/proc/modules', 'utf8').includes('kernmod_params ') ? 'yes' : 'no (unloaded)'}`);
}

if (process.argv[2] === '--inside') {
  demo(process.env.KERNMOD_TEST_MODULES);
} else {
  const { buildTestModules } = await import(join(root, 'dist/modules-src/build.js'));
  const onHost = existsSync('/proc/modules') && process.getuid?.() === 0;
  if (onHost) {
    const set = await buildTestModules({ release: release(), log: (s) => console.log(s) });
    process.env.KERNMOD_TEST_MODULES = join(set.modules.hello, '..');
    demo(process.env.KERNMOD_TEST_MODULES);
  } else {
    const { runInVm, resolveKernel } = await import(join(root, 'dist/vm/index.js'));
    const kernel = resolveKernel(process.env.KERNMOD_KERNEL ?? '6.1');
    console.log(`this host has no module support (or we are not root): running in a qemu VM with Debian's ${kernel.release}`);
    const set = await buildTestModules({ release: kernel.release, log: (s) => console.log(s) });
    const r = await runInVm([process.execPath, join(root, 'scripts/demo.mjs'), '--inside'], {
      kernel: kernel.release,
      cwd: root,
      echo: true,
      env: { KERNMOD_TEST_MODULES: join(set.modules.hello, '..') },
      log: (s) => console.log(`[vm] ${s}`),
      // A boot that panics before the demo starts (rare, under TCG) is retried once, and reported.
      bootRetries: 1,
    });
    const retried = r.earlyDeaths.length ? ` (after ${r.earlyDeaths.length} boot that died before the demo started)` : '';
    console.log(`[vm] ${r.release} (${r.accel}) booted in ${(r.bootMs / 1000).toFixed(1)} s${retried}; command exited ${r.exitCode}`);
    process.exitCode = r.exitCode;
  }
}
