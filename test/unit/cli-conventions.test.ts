// CLI conventions every command shares (issues #18, #20): glibc getopt_long's messages and kmod's exit
// status for a bad command line, -V/--version, one --json error shape, a quiet end when the reader of
// stdout goes away, MODPROBE_OPTIONS as kmod splits it, modprobe --show-exports/--show-modversions,
// and a "did you mean" for a mistyped command. Where kmod is installed, its own output is the reference.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { getoptLong, type OptionSpec } from '../../lib/cli/getopt.js';
import { main } from '../../lib/cli/main.js';
import { manPages } from '../../lib/cli/manpage.js';
import { COMMAND_DOCS } from '../../lib/cli/options.js';
import { SYSLOG_REFUSED } from '../../lib/cli/output.js';
import { modprobeCommand, splitModprobeOptions, unavailableKernmod } from '../../lib/cli/modprobe.js';
import { compiledLib } from './compiled-lib.js';

function capture() {
  const o = { out: '', err: '' };
  return { o, io: { out: (s: string) => void (o.out += s), err: (s: string) => void (o.err += s) } };
}

const noKernel = unavailableKernmod(new Error('no backend in this test'));

async function modprobe(argv: string[], options?: string) {
  const { o, io } = capture();
  const status = await modprobeCommand(argv, noKernel, io, { cmdline: false, options });
  return { status, ...o };
}

const kmodVersion = spawnSync('modprobe', ['-V'], { encoding: 'utf8' });
const haveKmod = kmodVersion.status === 0 && /^kmod version/.test(kmodVersion.stdout);

function kmod(tool: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(tool, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

describe('getopt_long as glibc parses and words it', () => {
  const table: OptionSpec[] = [
    { key: 'remove', short: 'r', long: 'remove' },
    { key: 'holders', long: 'remove-dependencies' },
    { key: 'holders', long: 'remove-holders' },
    { key: 'ign', short: 'i', long: 'ignore-install' },
    { key: 'ign', long: 'ignore-remove' },
    { key: 'wait', short: 'w', long: 'wait', arg: 'required' },
  ];
  it('permutes operands, takes unambiguous prefixes and attached or separate arguments', () => {
    expect(getoptLong(['x', '--wai=5', '-rw', '7', '--ignore-', 'y', '--', '-r'], table)).toEqual({
      options: [
        { key: 'wait', value: '5', spelled: '--wait' },
        { key: 'remove', value: undefined, spelled: '-r' },
        { key: 'wait', value: '7', spelled: '-w' },
        { key: 'ign', value: undefined, spelled: '--ignore-install' },
      ],
      operands: ['x', 'y', '-r'],
    });
  });
  it("says glibc's words for each mistake", () => {
    const error = (argv: string[]) => getoptLong(argv, table).error;
    expect(error(['--bogus=3'])).toBe("unrecognized option '--bogus=3'");
    expect(error(['-Z'])).toBe("invalid option -- 'Z'");
    expect(error(['-w'])).toBe("option requires an argument -- 'w'");
    expect(error(['--wait'])).toBe("option '--wait' requires an argument");
    expect(error(['--remove=1'])).toBe("option '--remove' doesn't allow an argument");
    expect(error(['--rem'])).toBe("option '--rem' is ambiguous; possibilities: '--remove' '--remove-dependencies' '--remove-holders'");
  });
});

describe('a bad command line: the line kmod prints and its exit status', () => {
  const cases = [['--bogus'], ['--bogus=3'], ['-Z'], ['-qZ'], ['--rem'], ['--all=3'], ['-w'], ['--wait'], ['--show-exp']];
  it.each(cases)('modprobe %s', async (...argv) => {
    const ours = await modprobe(argv);
    expect(ours.status).toBe(1);
    expect(ours.out).toBe('');
    if (haveKmod) {
      const theirs = kmod('modprobe', argv);
      expect({ status: ours.status, err: ours.err }).toEqual({ status: theirs.status, err: theirs.err });
    } else expect(ours.err).toMatch(/^modprobe: /);
  });

  it('with --json, the one error shape on stdout instead', async () => {
    const r = await modprobe(['--json', '--bogus']);
    expect(r.status).toBe(1);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toEqual({
      ok: false,
      error: { name: 'KernmodError', code: 'ERR_KERNMOD_USAGE', phase: 'validate', message: "unrecognized option '--bogus'" },
    });
  });

  it('modprobe -s is refused, not silently ignored', async () => {
    const r = await modprobe(['-s', 'foo']);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/^modprobe: option '--syslog' is not supported/);
  });
});

describe("kernmod's own commands and the NetBSD tools parse with getoptLong and their table", () => {
  const run = async (argv: string[]) => {
    const { o, io } = capture();
    return { status: await main(argv, io), ...o };
  };

  it.each([
    ['doctor', 2],
    ['apply', 1],
  ] as const)("%s: an unknown option is glibc's line, or with --json the one error shape", async (command, status) => {
    expect(await run([command, '--bogus'])).toEqual({ status, out: '', err: `${command}: unrecognized option '--bogus'\n` });
    expect(await run([command, '-Z'])).toEqual({ status, out: '', err: `${command}: invalid option -- 'Z'\n` });
    const j = await run([command, '--json', '--bogus']);
    expect(j.status).toBe(status);
    expect(j.err).toBe('');
    expect(JSON.parse(j.out)).toEqual({
      ok: false,
      error: { name: 'KernmodError', code: 'ERR_KERNMOD_USAGE', phase: 'validate', message: "unrecognized option '--bogus'" },
    });
  });

  it("lsmod: any argument it does not take is kmod's one usage line and status 1 (kmod's lsmod takes none)", async () => {
    for (const argv of [['-s'], ['--bogus'], ['foo']]) {
      const ours = await run(['lsmod', ...argv]);
      expect(ours).toEqual({ status: 1, out: '', err: 'Usage: lsmod\n' });
      if (haveKmod) expect(kmod('lsmod', argv)).toEqual({ status: ours.status, out: ours.out, err: ours.err });
    }
    const j = await run(['lsmod', '--json', 'foo']);
    expect(j.status).toBe(1);
    expect(JSON.parse(j.out)).toMatchObject({ ok: false, error: { code: 'ERR_KERNMOD_USAGE' } });
  });

  it('apply: a missing argument and an unambiguous prefix as getopt_long takes them', async () => {
    expect(await run(['apply', '--root'])).toEqual({ status: 1, out: '', err: "apply: option '--root' requires an argument\n" });
    expect(await run(['apply', '--check=1', 'x'])).toEqual({
      status: 1,
      out: '',
      err: "apply: option '--check' doesn't allow an argument\n",
    });
    expect((await run(['apply', '--he'])).out).toMatch(/^Usage: kernmod apply/);
  });

  it("NetBSD's tools: NetBSD getopt's words, the usage, status 1", async () => {
    expect(await run(['modload', '-z'])).toMatchObject({
      status: 1,
      out: '',
      err: expect.stringMatching(/^modload: unknown option -- z\nUsage: modload /),
    });
    expect(await run(['modstat', '-n'])).toMatchObject({
      status: 1,
      out: '',
      err: expect.stringMatching(/^modstat: option requires an argument -- n\nUsage: modstat /),
    });
    expect(await run(['modunload', '-x'])).toEqual({
      status: 1,
      out: '',
      err: 'modunload: unknown option -- x\nUsage: modunload <module_name ...>\n',
    });
    expect(await run(['modunload', '--help'])).toMatchObject({ status: 0, out: expect.stringMatching(/^Usage: modunload/) });
  });

  it("kernmod vm: glibc's line and status 2", async () => {
    const { vmCommand } = await import('../../vm/cli.js');
    const vm = async (argv: string[]) => {
      let err = '';
      const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
      try {
        return { status: await vmCommand(argv), first: err.split('\n')[0] };
      } finally {
        spy.mockRestore();
      }
    };
    expect(await vm(['--bogus'])).toEqual({ status: 2, first: "kernmod vm: unrecognized option '--bogus'" });
    expect(await vm(['--kernel'])).toEqual({ status: 2, first: "kernmod vm: option '--kernel' requires an argument" });
    expect(await vm(['--memory=0', 'true'])).toEqual({ status: 125, first: '--memory: expected a positive number, got "0"' });
  });
});

describe('-s/--syslog: refused with one line by every tool whose kmod takes it, and the man page says so', () => {
  // kmod 30: insmod ("psfVh"), rmmod ("fsvVh") and modprobe take -s; depmod, lsmod and modinfo do not.
  const withSyslog = ['insmod', 'rmmod', 'modprobe'];
  it('the tables give -s/--syslog to exactly those tools', () => {
    expect(COMMAND_DOCS.filter((c) => c.options.some((o) => o.long === 'syslog')).map((c) => c.name)).toEqual(withSyslog);
  });
  it.each(
    withSyslog.flatMap((t) => [
      [t, '-s'],
      [t, '--syslog'],
    ]),
  )('%s %s', async (tool, flag) => {
    const { o, io } = capture();
    expect(await main([tool, flag, 'x'], io)).toBe(1);
    expect(o).toEqual({ out: '', err: `${tool}: ${SYSLOG_REFUSED}\n` });
    expect(new Map(manPages('0', '2026-01-01')).get(`kernmod-${tool}.1`)).toMatch(/syslog\\fR\n.*refused/);
  });
  it.each(withSyslog)('%s --jso -s: the refusal in JSON, as --json (getopt_long takes a unique prefix)', async (tool) => {
    const { o, io } = capture();
    expect(await main([tool, '--jso', '-s', 'x'], io)).toBe(1);
    expect(o.err).toBe('');
    expect(JSON.parse(o.out)).toMatchObject({ ok: false, error: { code: 'ERR_KERNMOD_USAGE', message: SYSLOG_REFUSED } });
  });
  it('depmod -s is an invalid option, as for kmod 30', async () => {
    const { o, io } = capture();
    expect(await main(['depmod', '-s'], io)).toBe(1);
    expect(o.err).toBe("depmod: invalid option -- 's'\n");
  });
});

describe('-V/--version', () => {
  it('every kmod tool name prints the version and exits 0', async () => {
    for (const argv of [['-V'], ['--version'], ['modprobe', '-V'], ['lsmod', '--version'], ['modprobe', '--vers']]) {
      const { o, io } = capture();
      expect(await main(argv, io)).toBe(0);
      expect(o.out).toMatch(/^kernmod version \d+\.\d+\.\d+\n$/);
    }
  });
});

describe('MODPROBE_OPTIONS, split as kmod splits it', () => {
  it('words at each space; a quoted word, a quote inside a word dropped with its partner', () => {
    expect(splitModprobeOptions(undefined)).toEqual([]);
    expect(splitModprobeOptions('')).toEqual([]);
    expect(splitModprobeOptions('-q -v')).toEqual(['-q', '-v']);
    expect(splitModprobeOptions('-q  -v')).toEqual(['-q', '', '-v']);
    expect(splitModprobeOptions('"-C" x')).toEqual(['-C', '', 'x']);
    expect(splitModprobeOptions('a="b c" d')).toEqual(['a=b c', 'd']);
    expect(splitModprobeOptions('"open')).toEqual(['"open']);
  });

  it('its options come before the command line (a bad one is reported as kmod does)', async () => {
    const ours = await modprobe(['x'], '--bogus');
    expect(ours.status).toBe(1);
    expect(ours.err).toBe("modprobe: unrecognized option '--bogus'\n");
    if (haveKmod) expect(kmod('modprobe', ['x'], { MODPROBE_OPTIONS: '--bogus' }).err).toBe(ours.err);
  });
});

const releases = (() => {
  try {
    return readdirSync('/lib/modules');
  } catch {
    return [];
  }
})();
const stpFiles = releases.flatMap((r) =>
  readdirSync(`/lib/modules/${r}/kernel/net/802`, { withFileTypes: true })
    .filter((d) => d.name.startsWith('stp.ko'))
    .map((d) => `/lib/modules/${r}/kernel/net/802/${d.name}`),
);

describe.skipIf(!haveKmod || stpFiles.length === 0)("modprobe --show-exports / --show-modversions, byte for byte kmod's", () => {
  it.each(
    stpFiles.flatMap((f) => [
      ['--show-exports', f],
      ['--show-modversions', f],
      ['--dump-modversions', f],
    ]),
  )('%s %s', async (...argv) => {
    const ours = await modprobe(argv);
    const theirs = kmod('modprobe', argv);
    expect(ours).toEqual({ status: theirs.status, out: theirs.out, err: theirs.err });
  });
  it.each([
    ['--show-exports', '/etc/passwd'],
    ['--show-modversions', '/etc/passwd'],
    ['--show-exports', '/nonexistent.ko'],
    ['-q', '--show-exports', '/nonexistent.ko'],
  ])('%s %s', async (...argv) => {
    const ours = await modprobe(argv);
    const theirs = kmod('modprobe', argv);
    expect(ours).toEqual({ status: theirs.status, out: theirs.out, err: theirs.err });
  });
});

describe('the kernmod command', () => {
  it('a mistyped command gets a "did you mean"', async () => {
    const { o, io } = capture();
    expect(await main(['modprob', 'x'], io)).toBe(1);
    expect(o.err.split('\n')[0]).toBe("kernmod: unknown command 'modprob' (did you mean 'modprobe'?)");
  });

  it('--json turns a failure no command reported into the one JSON error shape', async () => {
    const { o, io } = capture();
    const { reportFailure } = await import('../../lib/cli/main.js');
    expect(reportFailure('modinfo', new Error('boom'), io, true)).toBe(1);
    expect(JSON.parse(o.out)).toEqual({ ok: false, error: { name: 'Error', code: 'ERR_KERNMOD_INTERNAL', message: 'boom' } });
    expect(o.err).toBe('');
  });

  it.each([['--json'], ['--jso']])('lsmod %s reports its failure as JSON too (--jso: a unique prefix)', async (flag) => {
    const { lsmodCommand } = await import('../../lib/cli/lsmod.js');
    const { o, io } = capture();
    expect(await lsmodCommand([flag], io, '/nonexistent-root')).toBe(1);
    expect(JSON.parse(o.out)).toMatchObject({ ok: false, error: { code: 'ENOENT' } });
  });

  it('a reader that goes away ends the command quietly, with no stack trace', async () => {
    const mainJs = `${compiledLib()}/lib/cli/main.js`;
    for (const argv of [['--help'], ['lsmod', '--help'], ['modprobe', '--help']]) {
      const child = spawn(process.execPath, [mainJs, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.destroy(); // closed before the child writes a byte
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      expect({ argv, err, status }).toEqual({ argv, err: '', status: 141 });
    }
  }, 60_000);

  it.each(['insmod', 'rmmod', 'lsmod', 'modprobe', 'doctor', 'depmod', 'apply'])(
    '%s --json with a bad option: { ok: false, error: { code, message } } on stdout',
    async (command) => {
      const { o, io } = capture();
      expect(await main([command, '--json', '--no-such-option'], io)).not.toBe(0);
      const body = JSON.parse(o.out) as { ok: boolean; error: { code: string; message: string } };
      expect(body.ok).toBe(false);
      expect(typeof body.error.code).toBe('string');
      expect(body.error.message).toMatch(/no-such-option/);
    },
  );
});
