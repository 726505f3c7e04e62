// ensure() with imageRoot (`kernmod apply --root DIR`): module names are checked against the image's own
// module trees (DIR/lib/modules/<release>/), as probe() would resolve them there, before anything is
// written; symlinks in the image are resolved inside it, never on the host.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KernmodError } from '../../lib/errors.js';
import { ensure } from '../../lib/provision/ensure.js';

const scratch: string[] = [];
afterAll(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'kernmod-provision-image-'));
  scratch.push(d);
  return d;
}

/** A module tree as depmod writes it (the text files: kernmod reads them when no .bin is there). */
function tree(dir: string, files: { dep?: string; alias?: string; builtin?: string; modinfo?: string }): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'modules.dep'), files.dep ?? '');
  if (files.alias !== undefined) writeFileSync(join(dir, 'modules.alias'), files.alias);
  if (files.builtin !== undefined) writeFileSync(join(dir, 'modules.builtin'), files.builtin);
  if (files.modinfo !== undefined) writeFileSync(join(dir, 'modules.builtin.modinfo'), files.modinfo);
}

/** Everything under a directory, as relative paths (what ensure() wrote, if anything). */
function listing(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

async function refusal(p: Promise<unknown>): Promise<KernmodError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(KernmodError);
  return e as KernmodError;
}

const DEP = 'kernel/drivers/block/loop.ko:\nkernel/net/8021q/8021q.ko: kernel/net/802/garp.ko\nkernel/net/802/garp.ko:\n';

describe('ensure() with imageRoot: module names are looked up in the image', () => {
  it('refuses a spec naming modules the image does not have, every one listed, and writes nothing', async () => {
    const root = tmp();
    tree(join(root, 'lib/modules/6.1.0-test'), { dep: DEP });
    const before = listing(root);
    const e = await refusal(ensure({ loop: 'installed', no_such_module: 'installed', 'other-missing': 'disabled' }, { imageRoot: root }));
    expect(e.code).toBe('ERR_KERNMOD_INVALID_SPEC');
    expect(e.message).toContain('nothing was changed');
    expect((e as KernmodError & { problems: string[] }).problems).toEqual([
      expect.stringMatching(/^module no_such_module: not found in the image's module trees \(.*6\.1\.0-test\)/),
      expect.stringMatching(/^module other_missing: not found/),
    ]);
    expect(listing(root)).toEqual(before);
  });

  it('knows a name from modules.dep, modules.alias, modules.builtin and modules.builtin.modinfo, in any of the trees', async () => {
    const root = tmp();
    tree(join(root, 'lib/modules/6.1.0-test'), { dep: DEP, alias: 'alias fs-squashfs squashfs\n' });
    tree(join(root, 'lib/modules/6.12.0-test'), {
      dep: 'kernel/fs/squashfs/squashfs.ko.xz:\n',
      builtin: 'kernel/drivers/tty/vt.ko\nkernel/net/unix/unix.ko\n',
      modinfo: 'unix.alias=net-pf-1\0',
    });
    const spec = {
      loop: 'installed',
      squashfs: 'installed',
      fs_squashfs: 'blacklisted',
      vt: 'blacklisted',
      unix: 'disabled',
      net_pf_1: 'disabled',
    } as const;
    const r = await ensure(spec, { imageRoot: root });
    expect(r.ok).toBe(true);
    expect(readdirSync(join(root, 'etc/modprobe.d')).sort()).toEqual(['fs_squashfs.conf', 'net_pf_1.conf', 'unix.conf', 'vt.conf']);
  });

  it('refuses with a typed error, and writes nothing, when the image has no module tree at all', async () => {
    for (const make of [
      (root: string) => void root, // nothing at all
      (root: string) => mkdirSync(join(root, 'lib/modules/6.1.0-test/kernel'), { recursive: true }), // modules, no depmod run
    ]) {
      const root = tmp();
      make(root);
      const before = listing(root);
      const e = await refusal(ensure({ loop: 'installed' }, { imageRoot: root }));
      expect(e.code).toBe('ERR_KERNMOD_NO_MODULE_TREE');
      expect(e.message).toContain(join(root, 'lib/modules'));
      expect(e.hint).toContain(`kernmod depmod -b ${root}`);
      expect(listing(root)).toEqual(before);
    }
  });

  it('follows a merged-/usr image (lib -> usr/lib, relative or absolute) inside the image', async () => {
    for (const target of ['usr/lib', '/usr/lib']) {
      const root = tmp();
      tree(join(root, 'usr/lib/modules/6.1.0-test'), { dep: DEP });
      symlinkSync(target, join(root, 'lib'));
      expect((await ensure({ loop: 'installed' }, { imageRoot: root })).ok).toBe(true);
      const e = await refusal(ensure({ no_such_module: 'installed' }, { imageRoot: root }));
      expect(e.code).toBe('ERR_KERNMOD_INVALID_SPEC');
    }
  });

  it('never follows a symlink in the image out of it: absolute targets and .. are taken inside the image', async () => {
    const outside = tmp();
    tree(join(outside, 'tree'), { dep: 'kernel/host_only.ko:\n' });
    for (const target of [join(outside, 'tree'), `../../../../../../../../../..${join(outside, 'tree')}`]) {
      const root = tmp();
      mkdirSync(join(root, 'lib/modules'), { recursive: true });
      symlinkSync(target, join(root, 'lib/modules/6.1.0-test'));
      const e = await refusal(ensure({ host_only: 'installed' }, { imageRoot: root }));
      expect(e.code).toBe('ERR_KERNMOD_NO_MODULE_TREE');
    }
    // The same target made inside the image is the image's own tree.
    const root = tmp();
    tree(join(root, outside, 'tree'), { dep: 'kernel/image_only.ko:\n' });
    mkdirSync(join(root, 'lib/modules'), { recursive: true });
    symlinkSync(join(outside, 'tree'), join(root, 'lib/modules/6.1.0-test'));
    expect((await ensure({ image_only: 'installed' }, { imageRoot: root })).ok).toBe(true);
    await expect(ensure({ host_only: 'installed' }, { imageRoot: root })).rejects.toMatchObject({ code: 'ERR_KERNMOD_INVALID_SPEC' });
  });

  it('writes the persisted files through the image’s own symlinks, inside the image', async () => {
    const root = tmp();
    tree(join(root, 'lib/modules/6.1.0-test'), { dep: DEP });
    mkdirSync(join(root, 'etc'), { recursive: true });
    // An absolute link in the image means the image's path; on the host it would name the host's /etc.
    symlinkSync('/etc/kernmod-image-test/modprobe.d', join(root, 'etc/modprobe.d'));
    const r = await ensure({ loop: 'blacklisted' }, { imageRoot: root });
    expect(r.actions.map((a) => a.path)).toEqual([join(root, 'etc/kernmod-image-test/modprobe.d/loop.conf')]);
    expect(readdirSync(join(root, 'etc/kernmod-image-test/modprobe.d'))).toEqual(['loop.conf']);
  });

  it('refuses an index file that is a symlink out of the tree rather than read the host’s', async () => {
    const outside = tmp();
    writeFileSync(join(outside, 'modules.dep'), 'kernel/host_only.ko:\n');
    const root = tmp();
    mkdirSync(join(root, 'lib/modules/6.1.0-test'), { recursive: true });
    symlinkSync(join(outside, 'modules.dep'), join(root, 'lib/modules/6.1.0-test/modules.dep'));
    const e = await refusal(ensure({ host_only: 'installed' }, { imageRoot: root }));
    expect(e.code).toBe('ERR_KERNMOD_INVALID_IMAGE');
    expect(e.hint).toContain(`kernmod depmod -b ${root} 6.1.0-test`);
    expect(listing(root)).toEqual(['lib', 'lib/modules', 'lib/modules/6.1.0-test', 'lib/modules/6.1.0-test/modules.dep']);
  });

  it('kernmod apply --root: the refusal is the CLI’s error lines (no stack trace), and nothing is written', async () => {
    const { main } = await import('../../lib/cli/main.js');
    const root = tmp();
    tree(join(root, 'lib/modules/6.1.0-test'), { dep: DEP });
    const spec = join(tmp(), 'spec.yaml');
    writeFileSync(spec, 'loop: installed\nno_such_module: installed\n');
    const o = { out: '', err: '' };
    const io = { out: (s: string) => void (o.out += s), err: (s: string) => void (o.err += s) };
    const before = listing(root);
    expect(await main(['apply', '--root', root, spec], io)).not.toBe(0);
    expect(o.err).toContain('module no_such_module: not found in the image');
    expect(o.err).not.toMatch(/\n\s+at /);
    expect(listing(root)).toEqual(before);
    const empty = tmp();
    expect(await main(['apply', '--root', empty, spec], io)).not.toBe(0);
    expect(o.err).toContain(`kernmod depmod -b ${empty}`);
    expect(listing(empty)).toEqual([]);
  });
});
