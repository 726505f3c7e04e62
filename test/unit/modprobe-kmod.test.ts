// Byte-for-byte agreement with kmod's own modprobe (whatever version is installed; Debian 12 has 30)
// on the installed Debian module trees: --show-depends for every module name, every alias of
// modules.alias turned into a concrete device string, every built-in, a sample of symbols; then a
// modprobe.d of our own using every directive, -c, -R, -n -v, and the kernel command line. Skipped where
// kmod or the trees are absent. No release is hard-coded: the trees are discovered.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modprobeCommand, unavailableKernmod } from '../../lib/cli/modprobe.js';
import { formatPlan } from '../../lib/modprobe/format.js';
import { Modprobe } from '../../lib/modprobe/modprobe.js';
import { tempDir, writeTree } from './modprobe-helpers.js';

const kmodVersion = spawnSync('modprobe', ['-V'], { encoding: 'utf8' });
const haveKmod = kmodVersion.status === 0 && /kmod version/.test(kmodVersion.stdout);
const releases =
  haveKmod && existsSync('/lib/modules')
    ? readdirSync('/lib/modules')
        .filter((r) => existsSync(`/lib/modules/${r}/modules.dep.bin`))
        .sort()
    : [];

function kmod(args: string[]): { stdout: string; status: number } {
  const r = spawnSync('modprobe', args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return { stdout: r.stdout, status: r.status ?? -1 };
}

/** kmod with many names at once (-a), in chunks that fit on a command line. */
function kmodShowDepends(release: string, names: string[], extra: string[] = []): string {
  let out = '';
  for (let i = 0; i < names.length; i += 3000) out += kmod(['-D', '-a', '-S', release, ...extra, ...names.slice(i, i + 3000)]).stdout;
  return out;
}

/** Ours, all names through one context (what `-a` does too). */
function oursShowDepends(mp: Modprobe, names: string[]): string {
  let out = '';
  for (const n of names) {
    try {
      out += formatPlan(mp.resolve(n, { ignoreLoaded: true }));
    } catch (e) {
      if ((e as { code?: string }).code !== 'ERR_KERNMOD_NOT_FOUND') throw e;
    }
  }
  return out;
}

function moduleNames(release: string): string[] {
  return readFileSync(`/lib/modules/${release}/modules.dep`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) =>
      l
        .slice(0, l.indexOf(':'))
        .replace(/^.*\//, '')
        .replace(/\.ko(\.[a-z]+)?$/, ''),
    );
}

/** Every modules.alias pattern made into a string it matches: `*` -> '', `?` -> 'Q', `[..]` -> a member. */
function concreteAliases(release: string): string[] {
  const out = new Set<string>();
  for (const line of readFileSync(`/lib/modules/${release}/modules.alias`, 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[0] !== 'alias' || !f[1]) continue;
    out.add(
      f[1]
        .replace(/\[([^\]]*)\]/g, (_m, c: string) => (c.startsWith('!') || c.startsWith('^') ? 'Z' : c[0]!))
        .replaceAll('*', '')
        .replaceAll('?', 'Q'),
    );
  }
  return [...out];
}

describe.skipIf(releases.length === 0)('--show-depends is byte-identical to kmod on the installed trees', () => {
  it.each(releases)('%s: every module name in modules.dep', { timeout: 120_000 }, (release) => {
    const names = moduleNames(release);
    expect(names.length).toBeGreaterThan(1000);
    const theirs = kmodShowDepends(release, names);
    const ours = oursShowDepends(Modprobe.openSync({ release }), names);
    expect(ours.length).toBeGreaterThan(names.length * 40);
    expect(ours).toBe(theirs);
  });

  it.each(releases)(
    '%s: every alias of modules.alias, as a concrete device string (pci:, usb:, fs-*, char-major-*, devname:, ...)',
    { timeout: 120_000 },
    (release) => {
      const aliases = concreteAliases(release);
      for (const kind of ['pci:v', 'usb:v', 'fs-', 'char-major-', 'devname:', 'block-major-', 'crypto-'])
        expect(aliases.some((a) => a.startsWith(kind))).toBe(true);
      expect(oursShowDepends(Modprobe.openSync({ release }), aliases)).toBe(kmodShowDepends(release, aliases));
    },
  );

  it.each(releases)('%s: every built-in module and 2000 exported symbols', { timeout: 120_000 }, (release) => {
    const builtins = readFileSync(`/lib/modules/${release}/modules.builtin`, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/^.*\//, '').replace(/\.ko$/, ''));
    const symbols = readFileSync(`/lib/modules/${release}/modules.symbols`, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('alias '))
      .map((l) => l.split(' ')[1]!)
      .filter((_s, i) => i % 7 === 0)
      .slice(0, 2000);
    const names = [...builtins, ...symbols];
    const ours = oursShowDepends(Modprobe.openSync({ release }), names);
    expect(ours).toContain('builtin ');
    expect(ours).toBe(kmodShowDepends(release, names));
  });
});

// A modprobe.d using every directive, bad lines included.
const CONF = `# every directive kmod knows, and some it rejects
alias mydisk loop
alias my-fs* ext4
options loop max_loop=4
options mydisk max_part=2
options ext4\tdata=ordered  errors=remount-ro
options crc16 crc=1
blacklist loop
blacklist xfs
softdep btrfs pre: vfat post: fuse
softdep fat pre: nls-utf8 post: nls_cp437 nls-iso8859-1
softdep xfs pre: libcrc32c post: crc32c
install fuse /bin/echo installing fuse $CMDLINE_OPTS
install vfat /bin/true
remove fuse /bin/echo removing
options fuse max_user_bgreq=3
install nls_* /bin/echo nls \\
  continued
weakdep ext4 fat
  # an indented comment is a bad line for kmod
badline here
options nooptions
alias [broken modname
`;
const QUERIES = [
  'loop',
  'mydisk',
  'my-fs-x',
  'ext4',
  'btrfs',
  'fat',
  'vfat',
  'fuse',
  'xfs',
  'crc32c',
  'nls_utf8',
  'nls-cp437',
  'crc16',
  'onlyone',
  'char-major-10-237',
];

async function ours(argv: string[]): Promise<{ stdout: string; status: number }> {
  let stdout = '';
  const status = await modprobeCommand(argv, unavailableKernmod(new Error('no syscalls in this test')), {
    out: (s) => void (stdout += s),
    err: () => {},
  });
  return { stdout, status };
}

describe.skipIf(releases.length === 0)('the CLI agrees with kmod with a modprobe.d of our own (-C)', () => {
  const dir = tempDir('kmodconf');
  writeFileSync(join(dir, '10-test.conf'), CONF);
  writeFileSync(join(dir, '20-more.conf'), 'softdep loop pre: crc16\nalias pci:v0000FFFF* e1000e\n');
  const dir2 = tempDir('kmodconf2');
  writeFileSync(join(dir2, '05-x.conf'), 'blacklist e1000e\noptions loop max_part=9\n');
  // -c: kmod 30 has no weakdep, so the -c comparison uses a config without one
  const noWeak = tempDir('kmodconf3');
  writeFileSync(join(noWeak, 'a.conf'), CONF.replace(/^weakdep.*\n/m, ''));

  const cases: string[][] = [];
  for (const r of releases) {
    for (const q of QUERIES) {
      cases.push(['-C', dir, '-D', '-S', r, q]);
      cases.push(['-C', dir, '-D', '-b', '-S', r, q]);
    }
    cases.push(
      ['-C', dir, '-D', '-S', r, 'ext4', 'foo=1', 'bar=a b', "baz='x y'"],
      ['-C', dir, '-D', '-S', r, 'fuse', 'a=1'],
      ['-C', dir, '-D', '-S', r, '-i', 'fuse'],
      ['-C', dir, '-D', '-S', r, '-i', 'btrfs'],
      ['-C', dir, '-C', dir2, '-D', '-S', r, 'pci:v0000FFFFd0'],
      ['-C', dir2, '-C', dir, '-D', '-S', r, 'loop'],
      ['-C', join(dir, '20-more.conf'), '-D', '-S', r, 'loop'],
      ['-C', dir, '-D', '-d', '/', '-S', r, 'btrfs'],
      ['-C', dir, '-a', '-D', '-S', r, 'loop', 'no-such-module', 'ext4'],
      ['-C', dir, '-D', '-S', r, 'no-such-module'],
      ['-C', dir, '-R', '-S', r, 'crc32c'],
      ['-C', dir, '-R', '-S', r, 'mydisk'],
      ['-C', dir, '-n', '-v', '-S', r, 'btrfs'],
      ['-C', noWeak, '-c', '-S', r],
      ['-c', '-S', r],
    );
  }
  // -c dumps whole indexes on both sides: seconds of work, more on a shared machine.
  it.each(cases.map((c) => [c.join(' '), c] as const))('modprobe %s', { timeout: 60_000 }, async (_label, argv) => {
    const theirs = kmod([...argv]);
    expect(await ours([...argv])).toEqual(theirs);
  });
});

// kmod reads /proc/cmdline itself; a private mount namespace lets both read the same test line.
const canUnshare = haveKmod && process.getuid?.() === 0 && spawnSync('unshare', ['-m', 'true']).status === 0;

describe.skipIf(releases.length === 0 || !canUnshare)(
  'the kernel command line, as kmod reads it (mount namespace over /proc/cmdline)',
  () => {
    it.each([
      'root=/dev/sda "ext4.opt=a b" crc16.x=1 loop.max_loop=8 "jbd2.dyndbg=file x +p" modprobe.blacklist=xfs,e1000e vfat.a=1 -- init.x=2',
      'bad"q.x=1 a.b.c=1 fat.y fat.z="q w" mbcache.q="1 2" vfat.a=1',
      'a.p="x y" c.q=1 d..e=1 f=1.2 jbd2.h.i=3 "crc16.k"=1 mbcache.m=2\tfat.o=3 ext4.p',
    ])('%s', { timeout: 60_000 }, (line) => {
      const release = releases[releases.length - 1]!;
      const dir = tempDir('cmdline');
      const file = join(dir, 'cmdline');
      writeFileSync(file, `${line}\n`);
      const names = ['ext4', 'vfat', 'e1000e', 'xfs', 'pci:v00008086d000010D3sv0sd0bc0sc0i0'];
      const script =
        `mount --bind ${file} /proc/cmdline && for n in ${names.join(' ')}; do modprobe -C /dev/null -D ` +
        `-S ${release} $n; done; modprobe -C /dev/null -c -S ${release} | grep -E '^(options|blacklist) '`;
      const theirs = spawnSync('unshare', ['-m', 'sh', '-c', script], { encoding: 'utf8' }).stdout;
      const mp = Modprobe.openSync({ release, config: [], cmdline: file });
      const mine =
        oursShowDepends(mp, names) +
        mp
          .showConfig()
          .split('\n')
          .filter((l) => /^(options|blacklist) /.test(l))
          .map((l) => `${l}\n`)
          .join('');
      expect(mine).toBe(theirs);
    });
  },
);

describe.skipIf(!haveKmod)('kmod reads trees we generate (.bin written by the test writer) the way we do', () => {
  it('softdeps, config, aliases on a synthetic tree with -d', async () => {
    const root = tempDir('gen');
    const dir = writeTree(join(root, 'lib/modules/9.9-gen'), {
      bin: true,
      modules: {
        t: { deps: ['a', 'c'], aliases: ['thing-t', 'pci:v0000BEEFd*'] },
        a: { deps: ['b'] },
        b: {},
        c: {},
        s1: { deps: ['b'] },
        s2: {},
        p: { aliases: ['pci:v0000BEEFd0001*'] },
      },
      builtin: ['bi'],
      softdep: 'softdep a pre: s2 post: s1\nsoftdep t pre: s1 post: s2\n',
    });
    mkdirSync(join(root, 'conf'));
    writeFileSync(join(root, 'conf/x.conf'), 'options t x=1\noptions c y=2\nblacklist p\ninstall s1 /bin/true\n');
    expect(readFileSync(join(dir, 'modules.softdep'), 'utf8')).toContain('softdep');
    for (const q of ['t', 'a', 'thing-t', 'pci:v0000BEEFd0001sv', 'bi', 's1']) {
      for (const extra of [[], ['-b']]) {
        const argv = ['-C', join(root, 'conf'), '-d', root, '-S', '9.9-gen', '-D', ...extra, q];
        expect(await ours(argv)).toEqual(kmod(argv));
      }
    }
  });
});
