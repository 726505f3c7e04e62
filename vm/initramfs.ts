// Builds (and caches) the tiny initramfs each guest boots from: a static busybox, the /init script
// from vm/guest/init, and the kernel's own virtio-pci + 9p modules, decompressed on the host because
// busybox insmod passes the bytes straight to init_module(2).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { writeCpioNewc, type CpioEntry } from './cpio.js';
import type { KernelInfo } from './kernels.js';
import { bootstrapModules, parseModulesBuiltin, parseModulesDep, type BootstrapModule } from './modules-dep.js';
import { guestDir, vmCacheDir } from './paths.js';
import { requireTool } from './tools.js';

/** Bump when the image layout changes so old cached images are rebuilt. */
const FORMAT_VERSION = 1;

interface InitramfsPlan {
  busybox: string;
  initScript: string;
  modules: (BootstrapModule & { file: string })[];
}

function planInitramfs(kernel: KernelInfo): InitramfsPlan {
  const dep = parseModulesDep(readFileSync(join(kernel.modulesDir, 'modules.dep'), 'utf8'));
  const builtinPath = join(kernel.modulesDir, 'modules.builtin');
  const builtin = parseModulesBuiltin(existsSync(builtinPath) ? readFileSync(builtinPath, 'utf8') : '');
  let mods: BootstrapModule[];
  try {
    mods = bootstrapModules(dep, builtin);
  } catch (e) {
    throw new Error(`kernel ${kernel.release}: ${(e as Error).message}`);
  }
  return {
    busybox: requireTool('busybox'),
    initScript: join(guestDir(), 'init'),
    modules: mods.map((m) => ({ ...m, file: join(kernel.modulesDir, m.path) })),
  };
}

/** Module bytes as init_module(2) wants them: the kernel decompresses only for finit_module. */
function readModuleUncompressed(file: string): Buffer {
  const run = (tool: string) => execFileSync(requireTool(tool), ['-dc', file], { maxBuffer: 256 << 20 });
  if (file.endsWith('.ko')) return readFileSync(file);
  if (file.endsWith('.ko.xz')) return run('xz');
  if (file.endsWith('.ko.zst')) return run('zstd');
  if (file.endsWith('.ko.gz')) return gunzipSync(readFileSync(file));
  throw new Error(`unknown module compression: ${file}`);
}

function inputKey(kernel: KernelInfo, plan: InitramfsPlan): string {
  const h = createHash('sha256');
  h.update(`v${FORMAT_VERSION}\n${kernel.release}\n`);
  h.update(readFileSync(plan.initScript));
  for (const f of [plan.busybox, ...plan.modules.map((m) => m.file)]) {
    const st = statSync(f);
    h.update(`\n${f} ${st.size} ${st.mtimeMs}`);
  }
  return h.digest('hex');
}

function initramfsEntries(plan: InitramfsPlan): CpioEntry[] {
  const entries: CpioEntry[] = [
    { type: 'dir', name: 'bin' },
    { type: 'dir', name: 'dev' },
    // The kernel opens /dev/console for init's stdio before /init runs, so it must be in the image.
    { type: 'char', name: 'dev/console', major: 5, minor: 1, mode: 0o600 },
    { type: 'dir', name: 'proc' },
    { type: 'dir', name: 'sys' },
    { type: 'dir', name: 'newroot' },
    { type: 'dir', name: 'modules' },
    { type: 'file', name: 'bin/busybox', data: readFileSync(plan.busybox), mode: 0o755 },
    { type: 'symlink', name: 'bin/sh', target: 'busybox' },
    { type: 'file', name: 'init', data: readFileSync(plan.initScript), mode: 0o755 },
    { type: 'file', name: 'modules/order', data: plan.modules.map((m) => m.name).join('\n') + '\n' },
  ];
  for (const m of plan.modules) {
    entries.push({ type: 'file', name: `modules/${m.name}.ko`, data: readModuleUncompressed(m.file) });
  }
  return entries;
}

export interface InitramfsImage {
  path: string;
  modules: string[];
  /** false when a cached image was reused */
  built: boolean;
}

/** The initramfs for a kernel, rebuilt only when the init script, busybox or the modules changed. */
export function ensureInitramfs(kernel: KernelInfo): InitramfsImage {
  const plan = planInitramfs(kernel);
  const dir = vmCacheDir();
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `initramfs-${kernel.release}.cpio`);
  const keyPath = `${path}.key`;
  const key = inputKey(kernel, plan);
  const modules = plan.modules.map((m) => m.name);
  if (existsSync(path) && existsSync(keyPath) && readFileSync(keyPath, 'utf8') === key) {
    return { path, modules, built: false };
  }
  // Write-then-rename so a concurrent run never boots a half-written image.
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, writeCpioNewc(initramfsEntries(plan)));
  renameSync(tmp, path);
  writeFileSync(keyPath, key);
  return { path, modules, built: true };
}
