#!/usr/bin/env node
// Bundles the CLI (lib/cli/main.ts and everything it imports from lib/) into one CommonJS file,
// dist/lib/cli/kernmod.cjs, which `bin` points to. Start-up is most of a short command's cost; one
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
//
// Usage: node scripts/bundle-cli.mjs [OUTFILE]   (default dist/lib/cli/kernmod.cjs)
import { build } from 'esbuild';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const vmStaysOutside = {
  name: 'vm-stays-outside',
  setup(b) {
    b.onResolve({ filter: /\/vm\/cli\.js$/ }, (args) => ({ path: args.path, external: true }));
  },
};

/** Writes the bundle of lib/cli/main.ts to `outfile`, which must be two directories below a package root. */
export async function bundleCli(outfile = join(root, 'dist/lib/cli/kernmod.cjs')) {
  await build({
    entryPoints: [join(root, 'lib/cli/main.ts')],
    outfile,
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
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await bundleCli(process.argv[2] ? resolve(process.argv[2]) : undefined);
}
