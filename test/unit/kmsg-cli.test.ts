// The CLI prints a call's kernel lines: under kmod's error line, before the hint, and the warnings of a
// load that succeeded; --json carries them. Over the FAKE kernel with a file standing in for /dev/kmsg
// (the real kernel's lines: test/kernel/main/kernel-log.test.ts).
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFakeBackend, FakeKernel } from '../../lib/backend/fake.js';
import type { Backend } from '../../lib/backend/types.js';
import { insmod } from '../../lib/cli/insmod.js';
import { modprobeCommand } from '../../lib/cli/modprobe.js';
import { rmmod } from '../../lib/cli/rmmod.js';
import { bind } from '../../lib/kernmod.js';
import { probe } from '../../lib/modprobe/modprobe.js';
import { tempDir, withSysfs, writeTree } from './modprobe-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'kernmod-kmsg-cli-'));
let seq = 0;
const rec = (level: number, message: string) => `${level},${++seq},${seq * 10},-;${message}\n`;

/** A fake kernel whose loads write `lines` to the stand-in log, and fail with `ret` when it is negative. */
function setup(lines: Array<[number, string]>, ret = 0) {
  const kmsg = join(dir, `kmsg-${seq}`);
  writeFileSync(kmsg, rec(6, 'boot: before'));
  const fake = createFakeBackend(new FakeKernel());
  const backend: Backend = {
    ...fake,
    finitModulePath: async (path, params, flags, guard) => {
      appendFileSync(kmsg, lines.map(([l, m]) => rec(l, m)).join(''));
      return ret < 0 ? { ret, syscall: 'finit_module' } : fake.finitModulePath(path, params, flags, guard);
    },
  };
  const out: string[] = [];
  const err: string[] = [];
  return { km: bind(backend, { kmsgPath: kmsg }), io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err };
}

function moduleFile(name: string): string {
  const path = join(dir, `${name}.ko`);
  writeFileSync(path, FakeKernel.image(name));
  return path;
}

describe('insmod / rmmod print the kernel lines', () => {
  it("the kernel's line under kmod's error line, then the hint from it", async () => {
    const file = moduleFile('loop');
    const { km, io, err } = setup([[3, "loop: `abc' invalid for parameter `max_loop'"]], -22);
    expect(await insmod([file, 'max_loop=abc'], km, io)).toBe(1);
    expect(err.join('')).toBe(
      `insmod: ERROR: could not insert module ${file}: Invalid parameters\n` +
        "  kernel: loop: `abc' invalid for parameter `max_loop'\n" +
        "insmod: hint: invalid parameter value: 'abc' for parameter max_loop of loop (see modinfo -p loop for its type)\n",
    );
  });

  it('--json puts the lines in the error', async () => {
    const file = moduleFile('loop');
    const { km, io, out } = setup([[3, "loop: `abc' invalid for parameter `max_loop'"]], -22);
    expect(await insmod(['--json', file, 'max_loop=abc'], km, io)).toBe(1);
    expect(JSON.parse(out.join(''))).toMatchObject({
      ok: false,
      error: { code: 'EINVAL', kernelLog: [{ level: 'err', message: "loop: `abc' invalid for parameter `max_loop'" }] },
    });
  });

  it('a load that succeeds prints the warnings; --json has kernelLog and warnings', async () => {
    const file = moduleFile('dummy');
    const a = setup([[5, "dummy: unknown parameter 'bogus_knob' ignored"]]);
    expect(await insmod([file, 'bogus_knob=1'], a.km, a.io)).toBe(0);
    expect(a.err.join('')).toBe("insmod: WARNING: kernel: dummy: unknown parameter 'bogus_knob' ignored\n");
    expect(a.out).toEqual([]);

    const b = setup([[5, "dummy: unknown parameter 'bogus_knob' ignored"]]);
    expect(await insmod(['--json', file, 'bogus_knob=1'], b.km, b.io)).toBe(0);
    expect(JSON.parse(b.out.join(''))).toMatchObject({
      ok: true,
      result: {
        kernelLog: [{ message: "dummy: unknown parameter 'bogus_knob' ignored" }],
        warnings: [{ kind: 'unknown-parameter', parameter: 'bogus_knob' }],
      },
    });
    expect(b.err).toEqual([]);
  });

  it('no kernel lines: exactly the old output', async () => {
    const file = moduleFile('quiet');
    const { km, io, err } = setup([]);
    expect(await insmod([file], km, io)).toBe(0);
    expect(await insmod([file], km, io)).toBe(1);
    expect(err[0]).toBe(`insmod: ERROR: could not insert module ${file}: File exists\n`);
    expect(err[1]).toMatch(/^insmod: hint: a module with this name is already loaded/);
    expect(err).toHaveLength(2);
    expect(await rmmod(['quiet'], km, io, join(dir, 'no-sys'))).toBe(0);
    expect(err).toHaveLength(2);
  });
});

describe("probe() and kernmod modprobe carry each step's lines", () => {
  /** A module tree t -> a over a fake kernel whose loads log `<name>: ...` lines; `failing` fails with EINVAL. */
  function tree(failing?: string) {
    const root = tempDir('kmsg-probe');
    const dir = writeTree(join(root, 'lib/modules/3.0-log'), { modules: { t: { deps: ['a'] }, a: {} } });
    const kmsg = join(root, 'kmsg');
    writeFileSync(kmsg, rec(6, 'boot: before'));
    const kernel = new FakeKernel();
    const fake = createFakeBackend(kernel);
    const backend: Backend = {
      ...fake,
      finitModulePath: async (path, params, flags, guard) => {
        const name = path.slice(path.lastIndexOf('/') + 1, -3);
        if (name === failing) {
          appendFileSync(kmsg, rec(3, `${name}: \`abc' invalid for parameter \`x'`));
          return { ret: -22, syscall: 'finit_module' };
        }
        appendFileSync(kmsg, rec(4, `${name}: loading out-of-tree module taints kernel.`) + rec(6, `${name}: init`));
        return fake.finitModulePath(path, params, flags, guard);
      },
    };
    const km = withSysfs(bind(backend, { kmsgPath: kmsg }), kernel, root);
    return { root, dir, km };
  }

  it('each step of probe() has its own lines and warnings', async () => {
    const { root, km } = tree();
    const r = await probe('t', { root, release: '3.0-log', config: [], kernmod: km, cmdline: false, sysRoot: root });
    expect(r.ok).toBe(true);
    const byModule = Object.fromEntries(r.steps.map((s) => [s.module, s]));
    expect(byModule.a!.kernelLog!.map((e) => e.message)).toEqual(['a: loading out-of-tree module taints kernel.', 'a: init']);
    expect(byModule.t!.kernelLog!.map((e) => e.message)).toEqual(['t: loading out-of-tree module taints kernel.', 't: init']);
    expect(byModule.t!.warnings).toEqual([{ kind: 'taint', message: 't: loading out-of-tree module taints kernel.' }]);
  });

  it("modprobe prints the failed step's kernel lines under its error line, and the warnings of a success", async () => {
    const bad = tree('t');
    const o = { out: '', err: '' };
    const io = { out: (s: string) => void (o.out += s), err: (s: string) => void (o.err += s) };
    expect(await modprobeCommand(['-d', bad.root, '-S', '3.0-log', 't'], bad.km, io, { cmdline: false, sysRoot: bad.root })).toBe(1);
    expect(o.err).toBe(
      'modprobe: WARNING: kernel: a: loading out-of-tree module taints kernel.\n' +
        "modprobe: ERROR: could not insert 't': Invalid argument\n" +
        "  kernel: t: `abc' invalid for parameter `x'\n" +
        "modprobe: hint: invalid parameter value: 'abc' for parameter x of t (see modinfo -p t for its type)\n",
    );
  });
});
