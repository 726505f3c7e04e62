#!/usr/bin/env node
// `npm run lint`'s line check: no line of the TypeScript and JavaScript sources is longer than 140 characters.
// Biome's formatter (width 140) wraps code; it cannot shorten a string, a comment or a regex, which this catches.
// Lists each long line as file:line and exits 1.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const MAX = 140;
const root = new URL('..', import.meta.url).pathname;
const files = execFileSync('git', ['ls-files', '-z', '--', '*.ts', '*.mjs', '*.cjs', '*.js'], { cwd: root, encoding: 'utf8' })
  .split('\0')
  .filter((f) => f !== '');
let long = 0;
for (const file of files) {
  let text;
  try {
    text = readFileSync(`${root}${file}`, 'utf8');
  } catch {
    continue; // deleted in the work tree, not yet in the index
  }
  text.split('\n').forEach((line, i) => {
    if (line.length <= MAX) return;
    long += 1;
    console.log(`${file}:${i + 1}: ${line.length} characters (at most ${MAX})`);
  });
}
console.log(
  long === 0 ? `line length: every line of ${files.length} files is at most ${MAX} characters` : `line length: ${long} lines over ${MAX}`,
);
process.exitCode = long === 0 ? 0 : 1;
