#!/usr/bin/env node
// Bundles the CLI (lib/cli/main.ts and everything it imports from lib/) into one CommonJS file,
// dist/lib/cli/kernmod.bundle.cjs, which `bin` (dist/lib/cli/kernmod.cjs) runs. Start-up is most of a short command's cost; one
// CommonJS file skips resolving, reading and linking some dozens of ES modules (and the ES module
// loader itself). Node 20 has no module.enableCompileCache, and a startup snapshot holds neither ES
// modules nor addons, so the bundle is the option that applies here.
//
// The rules the bundle keeps:
// - It sits in dist/lib/cli/, beside tsc's main.js, so every path the code builds from import.meta.url
//   (package.json, the addon loader's walk up to the package root, `kernmod vm`'s ../../vm/cli.js)
//   resolves exactly as it does from tsc's output.
// - npm dependencies stay external and are required where the code imports them, lazily like the
//   commands themselves (addons such as @napi-rs/lzma find their files relative to their own package).
// - `kernmod vm` stays an import() of dist/vm/cli.js: the VM rig is a tool beside the CLI.
// - OUTFILE (the bin) is a small launcher; the bundle is OUTFILE's name with .bundle.cjs, and V8's code
//   cache of it, made here, .bundle.v8cache, which spares compiling the bundle at every start (about
//   half of what --help costs above `node -e 0`, bench/RESULTS.md) and the functions modinfo and
//   modprobe -D run (makeCodeCache). Node 20 has no compile cache for a bin, so the launcher
//   compiles the bundle with vm.Script and the cache, which it uses only when the cache holds a
//   byte-identical copy of the bundle and V8 accepts it (same V8 version and flags); otherwise it compiles
//   the bundle as Node would.
//
// Usage: node scripts/bundle-cli.mjs [OUTFILE]   (default dist/lib/cli/kernmod.cjs)
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const vmStaysOutside = {
  name: 'vm-stays-outside',
  setup(b) {
    b.onResolve({ filter: /\/vm\/cli\.js$/ }, (args) => ({ path: args.path, external: true }));
  },
};

// The function the bundle is compiled as: CommonJS's wrapper, so the bundle runs as a required file would.
// The bundle file holds it whole, so its text is compiled as read (start-up: no 358 KB concatenated copy).
// Its extra parameter __kernmodImport is the launcher's import(): code compiled by vm.Script has no
// import() of its own unless given importModuleDynamically, whose default-loader constant Node 20 calls
// experimental (a warning on stderr) and which failed with the cache made here.
const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname, __kernmodImport) {';
const WRAP_TAIL = '\n})';

/**
 * The bin: compiles the bundle with its code cache when the cache was made from exactly this bundle.
 * The bundle gets the launcher's own __filename: both sit in one directory, so every path it builds from
 * its location is the same, and main.ts recognises the file it was run as.
 */
function launcher(bundleName) {
  return `#!/usr/bin/env node
"use strict";
// kernmod's bin, written by scripts/bundle-cli.mjs: runs ${bundleName}.cjs, compiled with V8's code
// cache ${bundleName}.v8cache when that cache holds a byte-identical copy of the bundle (a 4-byte length,
// the bundle, V8's data) and V8 accepts it; otherwise compiled as usual.
const { readFileSync } = require("node:fs");
const { Script } = require("node:vm");
const { pathToFileURL } = require("node:url");
const bundle = __dirname + "/${bundleName}.cjs";
const source = readFileSync(bundle);
let cachedData;
try {
  const cache = readFileSync(__dirname + "/${bundleName}.v8cache");
  const length = cache.readUInt32LE(0);
  if (length === source.length && source.equals(cache.subarray(4, 4 + length))) cachedData = cache.subarray(4 + length);
} catch {
  /* no cache: compile */
}
const script = new Script(source.toString("utf8"), {
  filename: bundle,
  cachedData,
});
// \`kernmod vm\`'s import() of ../../vm/cli.js, resolved from the bundle's place.
const importFromBundle = (specifier) => import(new URL(specifier, pathToFileURL(bundle)).href);
script.runInThisContext()(exports, require, module, __filename, __dirname, importFromBundle);
`;
}

/**
 * A module file holding only a .modinfo section (ELF64 little-endian, relocatable): what modinfo, depmod
 * and modprobe -D read of a module.
 */
function warmUpModule(modinfo) {
  const info = Buffer.from(modinfo.map((s) => `${s}\0`).join(''));
  const names = Buffer.from('\0.modinfo\0.shstrtab\0');
  const shoff = Math.ceil((64 + info.length + names.length) / 8) * 8;
  const b = Buffer.alloc(shoff + 3 * 64);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  b.writeUInt16LE(1, 16); // ET_REL
  b.writeUInt16LE(62, 18); // EM_X86_64
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(BigInt(shoff), 40);
  b.writeUInt16LE(64, 52);
  b.writeUInt16LE(64, 58);
  b.writeUInt16LE(3, 60); // null, .modinfo, .shstrtab
  b.writeUInt16LE(2, 62);
  info.copy(b, 64);
  names.copy(b, 64 + info.length);
  const section = (i, name, type, offset, size) => {
    b.writeUInt32LE(name, shoff + 64 * i);
    b.writeUInt32LE(type, shoff + 64 * i + 4);
    b.writeBigUInt64LE(BigInt(offset), shoff + 64 * i + 24);
    b.writeBigUInt64LE(BigInt(size), shoff + 64 * i + 32);
  };
  section(1, 1, 1, 64, info.length);
  section(2, 10, 3, 64 + info.length, names.length);
  return b;
}

/**
 * V8's code cache of the bundle, made by plain \`node\` processes (whose V8 flags the bin's node has too).
 * Each runs one command of the bin on a scratch module tree and adds the functions it compiled to the
 * cache, so those commands start without compiling them (start-up: modinfo -k and modprobe -D).
 */
function makeCodeCache(bin, bundlePath, cachePath) {
  const tree = mkdtempSync(join(tmpdir(), 'kernmod-warm-up-'));
  const release = '0.0-warm-up';
  const kernel = join(tree, 'lib/modules', release, 'kernel');
  mkdirSync(kernel, { recursive: true });
  const vermagic = `vermagic=${release} SMP mod_unload`;
  writeFileSync(join(kernel, 'warm_a.ko'), warmUpModule(['license=GPL', 'alias=warm-up', 'depends=warm_b', 'name=warm_a', vermagic]));
  writeFileSync(join(kernel, 'warm_b.ko'), warmUpModule(['license=GPL', 'depends=', 'name=warm_b', vermagic]));
  const maker = `
    const { readFileSync, writeFileSync } = require("node:fs");
    const { Script } = require("node:vm");
    const [bundle, cache, bin, ...args] = process.argv.slice(1);
    const source = readFileSync(bundle);
    let cachedData;
    try {
      const made = readFileSync(cache);
      cachedData = made.subarray(4 + made.readUInt32LE(0));
    } catch {}
    const script = new Script(source.toString("utf8"), { filename: bundle, cachedData });
    process.on("exit", () => {
      const length = Buffer.alloc(4);
      length.writeUInt32LE(source.length);
      writeFileSync(cache, Buffer.concat([length, source, script.createCachedData()]));
    });
    process.argv = [process.execPath, bin, ...args];
    script.runInThisContext()(exports, require, module, bin, require("node:path").dirname(bin), () => {});
  `;
  const run = (argv, args) => {
    const r = spawnSync(process.execPath, [...argv, ...args], { encoding: 'utf8' });
    // A command that fails still leaves a cache, without what it would have compiled; the build goes on.
    if (r.status !== 0) console.warn(`bundle-cli: warming up the code cache, kernmod ${args.join(' ')} failed: ${r.stderr}`);
  };
  try {
    rmSync(cachePath, { force: true });
    run([bin], ['depmod', '-b', tree, release]);
    run(['-e', maker, bundlePath, cachePath, bin], ['modinfo', '-F', 'vermagic', join(kernel, 'warm_a.ko')]);
    run(['-e', maker, bundlePath, cachePath, bin], ['modinfo', '-F', 'vermagic', '-b', tree, '-k', release, 'warm-up']);
    run(['-e', maker, bundlePath, cachePath, bin], ['modprobe', '-D', '-d', tree, '-S', release, 'warm_a']);
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
}

/**
 * Writes the CLI's bin `outfile` (two directories below a package root) and, beside it, the bundle of
 * lib/cli/main.ts and its code cache.
 */
export async function bundleCli(outfile = join(root, 'dist/lib/cli/kernmod.cjs')) {
  const bundleName = `${basename(outfile, '.cjs')}.bundle`;
  const bundlePath = join(dirname(outfile), `${bundleName}.cjs`);
  await build({
    entryPoints: [join(root, 'lib/cli/main.ts')],
    outfile: bundlePath,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    plugins: [vmStaysOutside],
    // import.meta.url is the bundle's own URL, as it was each module's own in dist/lib/cli/.
    banner: { js: '"use strict";\nconst __kernmodImportMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
    define: { 'import.meta.url': '__kernmodImportMetaUrl' },
    logLevel: 'warning',
    // Start-up: no comments or indentation, so the source is ASCII (a one-byte string, not UTF-16) and 24% smaller.
    minifyWhitespace: true,
  });
  // The bundle is compiled inside a function, where a #! line is a syntax error; its one import() is
  // the launcher's.
  const code = readFileSync(bundlePath, 'utf8').replace(/^#!.*\n/, '');
  const imports = code.split('import("../../vm/cli.js")');
  if (imports.length !== 2 || /\bimport\(/.test(imports.join(''))) {
    throw new Error(`the CLI bundle's import() calls are not the one of vm/cli.js`);
  }
  writeFileSync(bundlePath, WRAP_HEAD + imports.join('__kernmodImport("../../vm/cli.js")') + WRAP_TAIL);
  writeFileSync(outfile, launcher(bundleName));
  chmodSync(outfile, 0o755);
  makeCodeCache(outfile, bundlePath, join(dirname(outfile), `${bundleName}.v8cache`));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundleCli(process.argv[2] ? resolve(process.argv[2]) : undefined);
}
