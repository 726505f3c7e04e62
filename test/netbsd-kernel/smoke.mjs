#!/usr/bin/env node
// Real-kernel smoke test for kernmod's NetBSD side: run as root on NetBSD (the Vagrant `netbsd` box)
// after `npm run build`. It loads a stock module with modctl(MODCTL_LOAD), checks that MODCTL_STAT
// lists it, checks a few refusals and their NetBSD errno names, unloads it, and checks it is gone —
// through the built library (dist/), both the Promise and the sync forms, and modstat's CLI output.
//
//   node test/netbsd-kernel/smoke.mjs [MODULE]
//
// MODULE defaults to the first of a list of stock file-system modules that is neither loaded nor built
// into the running kernel and exists under kern.module.path (GENERIC kernels link some file systems in,
// e.g. ffs; loading a builtin would only say EEXIST). Ends with `N passed, N failed`; exit 0 if none failed.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');
const netbsd = await import(join(root, 'dist', 'lib', 'netbsd', 'index.js'));
const { modstatCommand } = await import(join(root, 'dist', 'lib', 'cli', 'modstat.js'));

let passed = 0;
let failed = 0;
function check(ok, what, detail = '') {
  console.log(`${ok ? 'ok' : 'not ok'} - ${what}${!ok && detail ? `\n  # ${detail}` : ''}`);
  ok ? passed++ : failed++;
}
function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}
async function rejects(promise) {
  try {
    await promise;
    return undefined;
  } catch (e) {
    return e;
  }
}

if (process.platform !== 'netbsd') {
  console.log(`this smoke test needs NetBSD (this is ${process.platform}); see docs/netbsd.md`);
  check(false, 'running on NetBSD');
  finish();
}

const support = await netbsd.moduleSupport();
console.log(`# NetBSD ${release()}, MODCTL_EXISTS: ${JSON.stringify(support)}`);
check(support.modular !== false, 'the kernel has options MODULAR');
if (!support.load) {
  let level = '?';
  try {
    level = execFileSync('sysctl', ['-n', 'kern.securelevel'], { encoding: 'utf8' }).trim();
  } catch {}
  check(false, 'this process may load modules', `run as root, with kern.securelevel <= 0 (it is ${level}); see docs/netbsd.md`);
  finish();
}

const modulePath = execFileSync('sysctl', ['-n', 'kern.module.path'], { encoding: 'utf8' }).trim();
const before = await netbsd.listModules();
const known = new Set(before.map((m) => m.name));
const candidates = process.argv[2]
  ? [process.argv[2]]
  : ['tmpfs', 'nfs', 'msdos', 'cd9660', 'ext2fs', 'udf', 'ntfs', 'v7fs', 'sysvbfs', 'efs', 'adosfs', 'filecore', 'hfs'];
const name = candidates.find((n) => !known.has(n) && existsSync(join(modulePath, n, `${n}.kmod`)));
if (!name) {
  check(
    false,
    'found a stock module to load',
    `none of ${candidates.join(', ')} is both absent from the kernel and present under ${modulePath}`,
  );
  finish();
}
console.log(`# module: ${name} (${join(modulePath, name, `${name}.kmod`)})`);

const stat = await netbsd.readModstat(netbsd.createNetbsdNativeBackend());
const major = Number.parseInt(release(), 10);
check(
  stat.layout === (major >= 9 ? 'v2' : 'v1'),
  `MODCTL_STAT answered in the ${major >= 9 ? '9.0+ (command 4)' : 'old (command 2)'} layout`,
  stat.layout,
);
check(stat.entries.length === before.length && before.length > 0, 'MODCTL_STAT lists the kernel’s modules', String(before.length));

// Load by name (the kernel looks it up in kern.module.path), with a property list.
const loaded = await netbsd.loadModule(name, { props: { kernmod_smoke: true } });
check(loaded.module === name && loaded.syscall === 'modctl', `loadModule('${name}') resolved`, JSON.stringify(loaded));
const row = (await netbsd.listModules()).find((m) => m.name === name);
check(
  row?.state === 'Live' && row.source === 'filesys',
  'listModules shows it, Live, from the file system',
  JSON.stringify(row, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v)),
);
check(
  row !== undefined && row.refcnt >= 0 && row.address !== 0n && row.size > 0,
  'with a refcnt, a load address and a size (root sees them)',
);

const out = [];
await modstatCommand(['-n', name], { out: (s) => out.push(s), err: (s) => out.push(s) });
const lines = out.join('').split('\n');
check(
  /^NAME +CLASS +SOURCE +FLAG +REFS +SIZE REQUIRES $/.test(lines[0] ?? '') && lines[1]?.startsWith(name),
  'kernmod modstat prints it in modstat’s columns',
  lines.join(' | '),
);
try {
  const system = execFileSync('modstat', ['-n', name], { encoding: 'utf8' }).split('\n')[1] ?? '';
  // The system tool may hide or show different flags across releases; the NAME, CLASS and SOURCE columns must agree.
  const cols = (l) => l.trim().split(/\s+/).slice(0, 3).join(' ');
  check(cols(system) === cols(lines[1] ?? ''), 'NetBSD’s own modstat agrees on name, class and source', `${system} vs ${lines[1]}`);
} catch (e) {
  console.log(`# modstat(8) not run: ${e.message}`);
}

// Refusals, with NetBSD errno names.
const again = await rejects(netbsd.loadModule(name));
check(again?.code === 'EEXIST' && again.errno === -17 && again.syscall === 'modctl', 'loading it again: EEXIST', again?.message);
const nosuch = await rejects(netbsd.unloadModule('kernmod_not_loaded'));
check(nosuch?.code === 'ENOENT' && nosuch.phase === 'unload', 'unloading a module that is not loaded: ENOENT', nosuch?.message);
const nofile = await rejects(netbsd.loadModule('/nonexistent/kernmod/missing.kmod'));
check(nofile?.code === 'ENOENT' && nofile.path === '/nonexistent/kernmod/missing.kmod', 'loading a missing path: ENOENT', nofile?.message);
const badprops = await rejects(netbsd.loadModule(name, { props: { k: 'x'.repeat(5000) } }));
check(badprops?.code === 'ERR_KERNMOD_PROPS_TOO_LARGE', 'over-long properties are refused before the kernel');

// Unload, then the same again with the sync forms.
const unloaded = await netbsd.unloadModule(name);
check(unloaded.module === name, `unloadModule('${name}') resolved`);
check(!(await netbsd.listModules()).some((m) => m.name === name), 'it is gone from MODCTL_STAT');
netbsd.loadModuleSync(name);
check(
  netbsd.listModulesSync().some((m) => m.name === name),
  'loadModuleSync / listModulesSync',
);
netbsd.unloadModuleSync(name);
check(!netbsd.listModulesSync().some((m) => m.name === name), 'unloadModuleSync');

finish();
