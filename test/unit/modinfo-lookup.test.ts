// Which modules a `kernmod modinfo` argument names (lib/cli/modinfo-lookup.ts, over lib/modprobe), in a
// module directory of text files only, so the lookups run on the text fallbacks. The same corners on
// .bin indexes are compared with kmod's own modinfo in modinfo-kmod.test.ts.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModinfoLookup, type Resolution } from '../../lib/cli/modinfo/lookup.js';

const builtinModinfo = Buffer.from(['zswap.description=Compressed cache', 'zswap.alias=zswap-alias-*', 'stray.license=GPL', ''].join('\0'));

const root = mkdtempSync(join(tmpdir(), 'kernmod-modinfo-lookup-'));
const dir = join(root, 'lib/modules/9.9.9');
mkdirSync(dir, { recursive: true });
writeFileSync(
  join(dir, 'modules.dep'),
  'kernel/drivers/block/loop.ko:\nkernel/sound/snd-a.ko: kernel/sound/snd.ko\nkernel/sound/snd-b.ko:\n',
);
writeFileSync(
  join(dir, 'modules.alias'),
  'alias devname:loop-control loop\nalias block-major-7-* loop\nalias acpi*:X:* snd_a\n' +
    'alias acpi*:X:* snd_b\nalias ghost-dev ghost\nalias stray-dev stray\n',
);
writeFileSync(join(dir, 'modules.symbols'), 'alias symbol:snd_sym snd_a\n');
writeFileSync(join(dir, 'modules.builtin'), 'kernel/mm/zswap.ko\n');
writeFileSync(join(dir, 'modules.builtin.modinfo'), builtinModinfo);
const lookup = new ModinfoLookup({ root, release: '9.9.9' });

const names = (r: Resolution) => (r.ok ? r.modules.map((m) => m.name) : r.message);

describe('modinfo NAME|ALIAS', () => {
  it('tries names first (with - or _), then symbols, aliases (every match, in order), built-ins', () => {
    expect(lookup.byAlias('loop')).toEqual({
      ok: true,
      modules: [{ kind: 'file', name: 'loop', path: `${dir}/kernel/drivers/block/loop.ko` }],
    });
    expect(lookup.byAlias('snd-a')).toEqual({ ok: true, modules: [{ kind: 'file', name: 'snd_a', path: `${dir}/kernel/sound/snd-a.ko` }] });
    expect(names(lookup.byAlias('symbol:snd_sym'))).toEqual(['snd_a']);
    expect(names(lookup.byAlias('devname:loop-control'))).toEqual(['loop']);
    expect(names(lookup.byAlias('block-major-7-3'))).toEqual(['loop']);
    expect(names(lookup.byAlias('acpi:X:'))).toEqual(['snd_a', 'snd_b']);
    expect(lookup.byAlias('zswap')).toEqual({ ok: true, modules: [{ kind: 'builtin', name: 'zswap', listed: true }] });
    expect(lookup.byAlias('zswap-alias-1')).toEqual({ ok: true, modules: [{ kind: 'builtin', name: 'zswap', listed: true }] });
  });

  it('keeps a module modules.dep lacks, as kmod does, reading built-in strings only for a listed built-in', () => {
    expect(lookup.byAlias('ghost-dev')).toEqual({ ok: true, modules: [{ kind: 'builtin', name: 'ghost', listed: false }] });
    // stray has strings in modules.builtin.modinfo but is not in modules.builtin: kmod does not read them.
    expect(lookup.byAlias('stray-dev')).toEqual({ ok: true, modules: [{ kind: 'builtin', name: 'stray', listed: false }] });
  });

  it('words the failures as kmod does: not found, and not even a valid alias', () => {
    expect(lookup.byAlias('nosuch')).toEqual({ ok: false, code: 'ENOENT', message: 'Module nosuch not found.' });
    expect(lookup.byAlias('bad]')).toEqual({ ok: false, code: 'EINVAL', message: 'Module alias bad] not found.' });
    expect(lookup.byAlias('bad[x')).toEqual({ ok: false, code: 'EINVAL', message: 'Module alias bad[x not found.' });
  });
});

describe('modinfo -m NAME', () => {
  it('takes the argument as a module name: modules.dep, then built-ins and their aliases', () => {
    expect(names(lookup.byName('snd-a.ko'))).toEqual(['snd_a']);
    expect(names(lookup.byName('zswap'))).toEqual(['zswap']);
    expect(names(lookup.byName('zswap-alias-1'))).toEqual(['zswap']);
    expect(lookup.byName('devname:loop-control')).toEqual({
      ok: false,
      code: 'ENOENT',
      message: 'Module name devname:loop-control not found.',
    });
    expect(names(lookup.byName('ghost-dev'))).toBe('Module name ghost-dev not found.');
  });
});

describe('the module directory', () => {
  it('gives modules.builtin.modinfo as bytes, or null where the kernel predates it', () => {
    expect(Buffer.from(lookup.builtinModinfo()!).equals(builtinModinfo)).toBe(true);
    expect(new ModinfoLookup({ root: join(root, 'missing'), release: '9.9.9' }).builtinModinfo()).toBeNull();
  });

  it('finds nothing in a directory that does not exist', () => {
    expect(names(new ModinfoLookup({ root: join(root, 'missing'), release: '9.9.9' }).byAlias('loop'))).toBe('Module loop not found.');
  });
});
