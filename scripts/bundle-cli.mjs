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
//   half of what --help costs above `node -e 0`, bench/RESULTS.md). Node 20 has no compile cache for a
//   bin, so the launcher
//   compiles the bundle with vm.Script and the cache, which it uses only when the cache holds a
//   byte-identical copy of the bundle and V8 accepts it (same V8 version and flags); otherwise it compiles
//   the bundle as Node would.
//
// Usage: node scripts/bundle-cli.mjs [OUTFILE]   (default dist/lib/cli/kernmod.cjs)
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
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

/** V8's code cache of the bundle, made by a plain \`node\` (whose V8 flags the bin's node has too). */
function makeCodeCache(bundlePath, cachePath) {
  const maker = `
    const { readFileSync, writeFileSync } = require("node:fs");
    const { Script } = require("node:vm");
    const source = readFileSync(${JSON.stringify(bundlePath)});
    const script = new Script(source.toString("utf8"), { filename: ${JSON.stringify(bundlePath)} });
    const length = Buffer.alloc(4);
    length.writeUInt32LE(source.length);
    writeFileSync(${JSON.stringify(cachePath)}, Buffer.concat([length, source, script.createCachedData()]));
  `;
  const r = spawnSync(process.execPath, ['-e', maker], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`making the CLI's code cache failed: ${r.stderr}`);
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
  makeCodeCache(bundlePath, join(dirname(outfile), `${bundleName}.v8cache`));
  writeFileSync(outfile, launcher(bundleName));
  chmodSync(outfile, 0o755);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundleCli(process.argv[2] ? resolve(process.argv[2]) : undefined);
}
