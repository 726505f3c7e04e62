// lib/ as JavaScript, for tests that start worker threads: Node runs no TypeScript in a worker, and the
// tests run the sources. Each file is transpiled on its own (no type check: `npm run typecheck` does
// that) into a temporary tree beside a package.json of type module and a link to node_modules, so the
// result loads as dist/ would. Made once per test file, removed when it is done.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { afterAll } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
let compiled: string | undefined;

afterAll(() => {
  if (compiled) rmSync(compiled, { recursive: true, force: true });
  compiled = undefined;
});

/** The directory holding lib/**\/*.js; import modules from `${dir}/lib/...`. */
export function compiledLib(): string {
  if (compiled) return compiled;
  const out = mkdtempSync(join(tmpdir(), 'kernmod-lib-'));
  const options: ts.CompilerOptions = { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, sourceMap: false };
  const src = join(root, 'lib');
  for (const f of readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    if (!f.endsWith('.ts') || f.endsWith('.d.ts')) continue;
    const js = ts.transpileModule(readFileSync(join(src, f), 'utf8'), { compilerOptions: options, fileName: f }).outputText;
    const dest = join(out, 'lib', f.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, js);
  }
  writeFileSync(join(out, 'package.json'), JSON.stringify({ name: 'kernmod-compiled', type: 'module' }));
  symlinkSync(join(root, 'node_modules'), join(out, 'node_modules'));
  // The native addons, where built (bindings() looks for build/ beside package.json).
  if (existsSync(join(root, 'build'))) symlinkSync(join(root, 'build'), join(out, 'build'));
  compiled = out;
  return out;
}
