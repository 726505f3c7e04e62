// Build step (after tsc): the man pages and shell completions, generated from the CLI's option tables,
// into dist/man and dist/completion (package.json "man" and "files" ship them). Generated, never committed.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const dist = new URL('../dist/', import.meta.url);
const { manPages } = await import(new URL('lib/cli/manpage.js', dist).href);
const { bashCompletion, zshCompletion } = await import(new URL('lib/cli/completion.js', dist).href);
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
// The date of the build is the page's date only when SOURCE_DATE_EPOCH does not fix it (reproducible builds).
const epoch = process.env.SOURCE_DATE_EPOCH ? Number(process.env.SOURCE_DATE_EPOCH) * 1000 : Date.now();
const date = new Date(epoch).toISOString().slice(0, 10);

mkdirSync(new URL('man/', dist), { recursive: true });
for (const [name, text] of manPages(pkg.version, date)) writeFileSync(new URL(`man/${name}`, dist), text);
mkdirSync(new URL('completion/', dist), { recursive: true });
writeFileSync(new URL('completion/kernmod.bash', dist), bashCompletion());
writeFileSync(new URL('completion/_kernmod', dist), zshCompletion());
