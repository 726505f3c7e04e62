// modprobe.d and kernel command line parsing (lib/modprobe/config.ts, config-files.ts), on small
// synthetic inputs; every expectation follows kmod's libkmod-config.c.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emptyConfig, logicalLines, parseKernelCmdline, parseModprobeConf, softdepToString } from '../../lib/modprobe/config.js';
import { listConfigSourcesSync, loadConfig, loadConfigSync } from '../../lib/modprobe/config-files.js';
import { tempDir } from './modprobe-helpers.js';

describe('parseModprobeConf', () => {
  it('reads every directive, normalising names (not inside [...]) and keeping the rest of the line', () => {
    const c = parseModprobeConf(
      [
        'alias my-disk loop',
        'alias scsi:t-0x0[0-7]* sd-mod',
        'options snd-pcsp index=-2  foo="a b"',
        'options e1000e\tInterruptThrottleRate=3000\tx=1',
        'blacklist pcspkr-x',
        'install fuse /sbin/modprobe --ignore-install fuse $CMDLINE_OPTS && echo ok',
        'remove fuse /bin/echo bye',
        'softdep btrfs pre: crc32c libcrc32c post: fuse',
        'weakdep i915 video  backlight',
      ].join('\n'),
      '/etc/modprobe.d/t.conf',
    );
    expect(c.aliases).toEqual([
      { pattern: 'my_disk', module: 'loop' },
      { pattern: 'scsi:t_0x0[0-7]*', module: 'sd_mod' },
    ]);
    expect(c.options).toEqual([
      { module: 'snd_pcsp', options: 'index=-2  foo="a b"' },
      // kmod turns tabs into spaces in options (only there)
      { module: 'e1000e', options: 'InterruptThrottleRate=3000 x=1' },
    ]);
    expect(c.blacklist).toEqual(['pcspkr_x']);
    expect(c.install).toEqual([{ module: 'fuse', command: '/sbin/modprobe --ignore-install fuse $CMDLINE_OPTS && echo ok' }]);
    expect(c.remove).toEqual([{ module: 'fuse', command: '/bin/echo bye' }]);
    expect(c.softdeps).toMatchObject([{ module: 'btrfs', pre: ['crc32c', 'libcrc32c'], post: ['fuse'] }]);
    expect(c.weakdeps).toEqual([{ module: 'i915', deps: ['video', 'backlight'] }]);
    expect(c.diagnostics).toEqual([]);
    expect(c.files).toEqual(['/etc/modprobe.d/t.conf']);
  });

  it('reports bad lines with file and line number, skips them, and keeps going', () => {
    const c = parseModprobeConf(
      [
        '# a comment',
        '',
        'frobnicate x', // 3: unknown command
        'alias only-one', // 4: missing module
        'options loop', // 5: no options
        'options loop ', // 6: nothing after the separator
        'blacklist', // 7
        'alias a[b c', // 8: unmatched bracket
        '  # indented: not a comment for kmod', // 9
        'install x', // 10
        'softdep x', // 11
        'include /etc/foo', // 12: deprecated
        'blacklist ok',
      ].join('\n'),
      'f.conf',
    );
    expect(c.diagnostics).toEqual([
      { file: 'f.conf', line: 3, message: "ignoring bad line starting with 'frobnicate'" },
      { file: 'f.conf', line: 4, message: "ignoring bad line starting with 'alias'" },
      { file: 'f.conf', line: 5, message: "ignoring bad line starting with 'options'" },
      { file: 'f.conf', line: 6, message: "ignoring bad line starting with 'options'" },
      { file: 'f.conf', line: 7, message: "ignoring bad line starting with 'blacklist'" },
      { file: 'f.conf', line: 8, message: "ignoring bad line starting with 'alias'" },
      { file: 'f.conf', line: 9, message: "ignoring bad line starting with '#'" },
      { file: 'f.conf', line: 10, message: "ignoring bad line starting with 'install'" },
      { file: 'f.conf', line: 11, message: "ignoring bad line starting with 'softdep'" },
      { file: 'f.conf', line: 12, message: 'command include is deprecated and not parsed anymore' },
    ]);
    expect(c.blacklist).toEqual(['ok']);
  });

  it('joins lines ending in a backslash; a bad joined line reports its last physical line', () => {
    expect(logicalLines('a \\\nb\nc\\d\ne')).toEqual([
      { text: 'a b', line: 2 },
      { text: 'cd', line: 3 }, // kmod drops a backslash before any other character
      { text: 'e', line: 4 },
    ]);
    const c = parseModprobeConf('options loop \\\n  max_loop=8\nbogus \\\nline\n', 'x.conf');
    expect(c.options).toEqual([{ module: 'loop', options: '  max_loop=8' }]);
    expect(c.diagnostics).toEqual([{ file: 'x.conf', line: 4, message: "ignoring bad line starting with 'bogus'" }]);
  });

  it("softdep: names before pre:/post: are ignored; -c prints kmod's spans (pre: a bpost: c)", () => {
    const c = parseModprobeConf('softdep cifs gcm ccm\nsoftdep m pre: a post: b pre: c\nsoftdep n post: z\n', 's.conf');
    expect(c.softdeps[0]).toMatchObject({ module: 'cifs', pre: [], post: [] });
    expect(c.softdeps[1]).toMatchObject({ pre: ['a', 'c'], post: ['b'] });
    expect(softdepToString(c.softdeps[0]!)).toBe('');
    expect(softdepToString(c.softdeps[1]!)).toBe('pre: a b cpost: b');
    expect(softdepToString(c.softdeps[2]!)).toBe('post: z');
  });

  it('accumulates several files in order', () => {
    const c = emptyConfig();
    parseModprobeConf('options a x=1\n', '1.conf', c);
    parseModprobeConf('options a y=2\n', '2.conf', c);
    expect(c.options.map((o) => o.options)).toEqual(['x=1', 'y=2']);
    expect(c.files).toEqual(['1.conf', '2.conf']);
  });
});

describe('parseKernelCmdline', () => {
  const parse = (s: string) => {
    const r = parseKernelCmdline(s);
    return { options: r.options.map((o) => `${o.module}:${o.options}`), blacklist: r.blacklist };
  };

  it('takes mod.param[=value] as options and modprobe.blacklist= as a blacklist', () => {
    expect(parse('root=/dev/sda1 quiet loop.max_loop=8 snd-hda-intel.model=auto e1000e.debug modprobe.blacklist=nouveau,pcspkr\n')).toEqual(
      {
        options: ['loop:max_loop=8', 'snd_hda_intel:model=auto', 'e1000e:debug'],
        blacklist: ['nouveau', 'pcspkr'],
      },
    );
  });

  it('keeps quoted values with spaces, re-quotes a boot loader\'s "mod.p=a b", ignores ill-formed tokens', () => {
    expect(parse('a.p="x y" "b.dyndbg=file f.c +p" c.q=1 d..e=1 f=1.2 g.h.i=3 "j.k"=1 l.m=2\tn.o=3')).toEqual({
      options: ['a:p="x y"', 'b:dyndbg="file f.c +p"', 'c:q=1', 'l:m=2', 'n:o=3'],
      blacklist: [],
    });
  });

  it('a stray quote swallows the following tokens until the next quote, as in kmod', () => {
    expect(parse('bad"q.x=1 a.b=1 fat.z="q w" vfat.a=1')).toEqual({ options: [], blacklist: [] });
  });

  it('reports a module name with an unmatched bracket', () => {
    const r = parseKernelCmdline('a]b.c=1');
    expect(r.options).toEqual([]);
    expect(r.diagnostics[0]?.message).toMatch(/Ignoring bad option on kernel command line/);
  });
});

describe('config files', () => {
  it('sorts *.conf by file name across directories; the first directory with a name wins; modules.softdep joins the sort', () => {
    const root = tempDir('conf');
    const etc = join(root, 'etc');
    const lib = join(root, 'lib');
    const moddir = join(root, 'moddir');
    for (const d of [etc, lib, moddir]) mkdirSync(d);
    writeFileSync(join(etc, 'b.conf'), 'options x from=etc-b\n');
    writeFileSync(join(lib, 'b.conf'), 'options x from=lib-b\n'); // hidden by /etc's b.conf
    writeFileSync(join(lib, 'a.conf'), 'options x from=lib-a\n');
    writeFileSync(join(lib, 'z.conf'), 'options x from=lib-z\n');
    writeFileSync(join(lib, 'c.txt'), 'options x from=txt\n'); // not *.conf
    writeFileSync(join(lib, '.hidden.conf'), 'options x from=hidden\n');
    mkdirSync(join(lib, 'sub.conf')); // a directory: skipped
    writeFileSync(join(moddir, 'modules.softdep'), 'softdep x pre: y\n');
    const sources = listConfigSourcesSync([etc, join(root, 'missing'), lib], moddir);
    expect(sources.map((s) => s.path.slice(root.length))).toEqual([
      '/lib/a.conf',
      '/etc/b.conf',
      '/moddir/modules.softdep',
      '/moddir/modules.weakdep',
      '/lib/z.conf',
    ]);
    const c = loadConfigSync({ paths: [etc, lib], moduleDir: moddir, cmdline: false });
    expect(c.options.map((o) => o.options)).toEqual(['from=lib-a', 'from=etc-b', 'from=lib-z']);
    expect(c.softdeps).toMatchObject([{ module: 'x', pre: ['y'] }]);
  });

  it('a config path may be a file; the kernel command line comes last; sync and async agree', async () => {
    const root = tempDir('conf2');
    const file = join(root, 'one.conf');
    const cmdline = join(root, 'cmdline');
    writeFileSync(file, 'options loop max_loop=2\nblacklist a\n');
    writeFileSync(cmdline, 'loop.max_part=3 modprobe.blacklist=b\n');
    const sync = loadConfigSync({ paths: [file], cmdline });
    expect(sync.options).toEqual([
      { module: 'loop', options: 'max_loop=2' },
      { module: 'loop', options: 'max_part=3' },
    ]);
    expect(sync.blacklist).toEqual(['a', 'b']);
    expect(await loadConfig({ paths: [file], cmdline })).toEqual(sync);
  });
});
