// The kernel log of a load or unload: the /dev/kmsg record parser, which lines belong to a call, the
// warnings and hints drawn from them (byte for byte with lines seen in Debian's 6.1 and 6.12 guests),
// the reader against a plain file standing in for /dev/kmsg, and the capture around the bound API over
// the FAKE kernel (a simulation: the real kernel's lines are asserted in test/kernel/main/kernel-log.test.ts).
import { execFileSync } from 'node:child_process';
import { appendFileSync, closeSync, constants, mkdtempSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFakeBackend, FakeKernel } from '../../lib/backend/fake.js';
import { buildElf, strings } from '../fixtures/elf-builder.js';
import type { Backend, PathOutcome } from '../../lib/backend/types.js';
import { KernmodError } from '../../lib/errors.js';
import { bind } from '../../lib/kernmod.js';
import { hintFromKernelLog, kernelWarnings, unknownSymbols } from '../../lib/linux/kernel-log-hints.js';
import { loadNativeBinding } from '../../lib/backend/native.js';
import { kmsgReader, parseKmsgRecord, readAvailableFs, recordsFor, type KernelLogEntry } from '../../lib/linux/kmsg.js';

const dir = mkdtempSync(join(tmpdir(), 'kernmod-kmsg-'));

// 8021q loaded without garp/mrp (Debian 6.1 and 6.12, kmod's insmod): one line per missing symbol.
const SYMBOLS_8021Q = [
  'garp_request_join',
  'garp_request_leave',
  'garp_init_applicant',
  'garp_uninit_applicant',
  'garp_register_application',
  'garp_unregister_application',
  'mrp_request_join',
  'mrp_request_leave',
  'mrp_init_applicant',
  'mrp_uninit_applicant',
  'mrp_register_application',
  'mrp_unregister_application',
];

let seq = 1000;
/** A /dev/kmsg record as the kernel writes it: `prio,seq,usec,flags;text\n`. */
function rec(level: number, message: string): string {
  seq++;
  return `${level},${seq},${seq * 1000},-;${message}\n`;
}
const entry = (level: KernelLogEntry['level'], message: string, s = 1): KernelLogEntry => ({ level, seq: s, usec: 0, message });

describe('parseKmsgRecord', () => {
  it('reads prio, seq, usec and the text of a record', () => {
    expect(parseKmsgRecord("5,2001,63456789,-;dummy: unknown parameter 'bogus_knob' ignored\n")).toEqual({
      level: 'notice',
      seq: 2001,
      usec: 63456789,
      message: "dummy: unknown parameter 'bogus_knob' ignored",
    });
  });

  it('the level is the low 3 bits of prio (the facility is above them)', () => {
    expect(parseKmsgRecord('12,7,8,-;from user space')?.level).toBe('warn'); // LOG_USER | LOG_WARNING
    expect(parseKmsgRecord("3,9,10,-;loop: `abc' invalid for parameter `max_loop'")?.level).toBe('err');
  });

  it('drops the continuation lines (` KEY=value`) and reads extra header fields', () => {
    const r = parseKmsgRecord('6,44,55,-,caller=T123;usb 1-1: new device\n SUBSYSTEM=usb\n DEVICE=c189:1\n');
    expect(r).toEqual({ level: 'info', seq: 44, usec: 55, message: 'usb 1-1: new device' });
  });

  it('undoes the \\xNN escapes of non-printable bytes', () => {
    expect(parseKmsgRecord('6,1,2,-;tab\\x09here caf\\xc3\\xa9')?.message).toBe('tab\there café');
  });

  it('a malformed record is undefined', () => {
    expect(parseKmsgRecord('no header')).toBeUndefined();
    expect(parseKmsgRecord('x,1,2,-;text')).toBeUndefined();
    for (const bad of ['6,1;text', '6,,2,-;text', '6,1,2', '6,1,2,-', '6,1,2x;text', '6,1,2,-\n;text', ' 6,1,2,-;text', '-6,1,2,-;text']) {
      expect(parseKmsgRecord(bad), bad).toBeUndefined();
    }
  });

  it('takes a record without flags, an empty text, and a text holding commas and semicolons', () => {
    expect(parseKmsgRecord('6,1,2;no flags')).toEqual({ level: 'info', seq: 1, usec: 2, message: 'no flags' });
    expect(parseKmsgRecord('6,1,2,-;')?.message).toBe('');
    expect(parseKmsgRecord('4,3,4,-;a, b; c,d')?.message).toBe('a, b; c,d');
    expect(parseKmsgRecord('6,18446744073709,99,c;big seq')?.seq).toBe(18446744073709);
  });
});

describe('recordsFor: the lines of one call', () => {
  const log = [
    entry('warn', '8021q: Unknown symbol garp_request_join (err -2)', 1),
    entry('info', 'EXT4-fs (vda): mounted filesystem', 2),
    entry('notice', "dummy: unknown parameter 'bogus_knob' ignored", 3),
    entry('err', 'decompression failed with status 6', 4),
    entry('info', '8021q_extra: not ours', 5),
  ];

  it("keeps the module's own `name: ` lines, not another module's with the same start", () => {
    expect(recordsFor(log, '8021q', 'unload').map((r) => r.seq)).toEqual([1]);
    expect(recordsFor(log, 'dummy', 'unload').map((r) => r.seq)).toEqual([3]);
  });

  it("a load also gets the loader's decompression lines, which name no module", () => {
    expect(recordsFor(log, 'dummy', 'load').map((r) => r.seq)).toEqual([3, 4]);
    expect(recordsFor(log, undefined, 'load').map((r) => r.seq)).toEqual([4]);
  });
});

describe('kernelWarnings', () => {
  it('lifts unknown parameters, taint and unverified signatures, in log order', () => {
    const w = kernelWarnings([
      entry('warn', 'kernmod_hello: loading out-of-tree module taints kernel.'),
      entry('notice', 'kernmod_hello: module verification failed: signature and/or required key missing - tainting kernel'),
      entry('info', 'kernmod_hello: init'),
      entry('notice', "dummy: unknown parameter 'bogus_knob' ignored"),
      entry('warn', 'kernmod_forged: bad vermagic: kernel tainted.'),
    ]);
    expect(w).toEqual([
      { kind: 'taint', message: 'kernmod_hello: loading out-of-tree module taints kernel.' },
      {
        kind: 'signature-not-verified',
        message: 'kernmod_hello: module verification failed: signature and/or required key missing - tainting kernel',
      },
      { kind: 'unknown-parameter', message: "dummy: unknown parameter 'bogus_knob' ignored", parameter: 'bogus_knob' },
      { kind: 'taint', message: 'kernmod_forged: bad vermagic: kernel tainted.' },
    ]);
  });

  it('ordinary lines are no warning', () => {
    expect(kernelWarnings([entry('info', 'loop: module loaded')])).toEqual([]);
  });
});

describe('hintFromKernelLog', () => {
  const missing = SYMBOLS_8021Q.map((s, i) => entry('warn', `8021q: Unknown symbol ${s} (err -2)`, i));
  const owners = (s: string) => (s.startsWith('garp_') ? ['garp'] : s.startsWith('mrp_') ? ['mrp'] : []);

  it('ENOENT + Unknown symbol: names the symbols and, through modules.symbols, the modules that export them', () => {
    expect(unknownSymbols(missing)).toEqual(SYMBOLS_8021Q);
    expect(hintFromKernelLog('ENOENT', missing, '8021q', owners)).toBe(
      'unknown symbols (12) in 8021q: garp_request_join, garp_request_leave, garp_init_applicant, ' +
        'garp_uninit_applicant, garp_register_application and 7 more, exported by garp, mrp: load them ' +
        'first, or load 8021q with probe() / kernmod modprobe 8021q, which loads its dependencies',
    );
  });

  it('one symbol no module exports', () => {
    expect(hintFromKernelLog('ENOENT', [missing[0]!], '8021q', () => [])).toBe(
      'unknown symbol in 8021q: garp_request_join; load the module that exports it first (modules.symbols names none)',
    );
  });

  it('EINVAL + invalid for parameter: names the parameter and the value', () => {
    expect(hintFromKernelLog('EINVAL', [entry('err', "loop: `abc' invalid for parameter `max_loop'")], 'loop')).toBe(
      "invalid parameter value: 'abc' for parameter max_loop of loop (see modinfo -p loop for its type)",
    );
    expect(
      hintFromKernelLog(
        'ENOSPC',
        [entry('err', "kernmod_params: `xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' too large for parameter `p_string'")],
        'kernmod_params',
      ),
    ).toMatch(/^parameter value too large: 'x+' for parameter p_string of kernmod_params/);
  });

  it('ENOEXEC + symbol version or vermagic lines: names the mismatch', () => {
    expect(
      hintFromKernelLog('EINVAL', [entry('warn', 'kernmod_hello: disagrees about version of symbol module_layout')], 'kernmod_hello'),
    ).toMatch(/^kernmod_hello was built against another kernel: its version of module_layout disagrees/);
    expect(
      hintFromKernelLog(
        'ENOEXEC',
        [
          entry(
            'err',
            "kernmod_forged: version magic '6.1.0-57-amd64 SMP preempt mod_unload modversionX ' should be " +
              "'6.1.0-57-amd64 SMP preempt mod_unload modversions '",
          ),
        ],
        'kernmod_forged',
      ),
    ).toBe(
      "kernmod_forged was built for another kernel: its vermagic is '6.1.0-57-amd64 SMP preempt " +
        "mod_unload modversionX ', this kernel's is '6.1.0-57-amd64 SMP preempt mod_unload modversions '; " +
        'rebuild it against this kernel (or ignoreVermagic, which taints the kernel)',
    );
  });

  it("otherwise quotes the module's own lines (its init's errors first), never the taint warnings", () => {
    const log = [
      entry('warn', 'kernmod_fail: loading out-of-tree module taints kernel.'),
      entry('info', 'kernmod_fail: init err=22'),
      entry('info', 'kernmod_fail: init failing with -22'),
    ];
    expect(hintFromKernelLog('EINVAL', log, 'kernmod_fail')).toBe(
      'the kernel log says: "kernmod_fail: init err=22"; "kernmod_fail: init failing with -22"',
    );
    expect(hintFromKernelLog('ENODEV', [...log, entry('err', 'kernmod_fail: no device')], 'kernmod_fail')).toBe(
      'the kernel log says: "kernmod_fail: no device"',
    );
    expect(hintFromKernelLog('EINVAL', [log[0]!], 'kernmod_fail')).toBeUndefined();
    expect(hintFromKernelLog('EINVAL', [], 'kernmod_fail')).toBeUndefined();
  });

  it("a quote comes before the errno's own hint, which still says what to do (a decompression failure)", () => {
    const xzHint = 'the kernel could not decompress the module: an .xz must use CRC32';
    expect(hintFromKernelLog('EINVAL', [entry('err', 'decompression failed with status 6')], 'kernmod_hello', undefined, xzHint)).toBe(
      `the kernel log says: "decompression failed with status 6" — ${xzHint}`,
    );
  });
});

// The reader's one read step: every record there is now, in one call, as text, and the log's end (EAGAIN)
// is '', not an exception. The addon's form and node:fs's (where there is no addon) answer alike.
const addonRead = (() => {
  try {
    return loadNativeBinding().readAvailable;
  } catch {
    return undefined;
  }
})();
describe.each([
  ['the addon', addonRead],
  ['node:fs', readAvailableFs],
])('readAvailable: %s', (_, read) => {
  it.skipIf(read === undefined)("reads all a non-blocking FIFO has in one call, then answers '' at its end (EAGAIN)", () => {
    const fifo = join(dir, `fifo-${seq++}`);
    execFileSync('mkfifo', [fifo]);
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    try {
      expect(read!(fd)).toBe('');
      const two = rec(6, 'a: one') + rec(6, 'a: two\\xc3\\xa9');
      writeSync(fd, two);
      expect(read!(fd)).toBe(two);
      expect(read!(fd)).toBe('');
    } finally {
      closeSync(fd);
    }
  });

  it.skipIf(read === undefined)('stops while a whole record (8192 bytes) still fits in 65536, and fails with -errno', () => {
    const path = join(dir, `big-${seq++}`);
    writeFileSync(path, 'x'.repeat(100_000));
    const fd = openSync(path, constants.O_RDONLY);
    expect(read!(fd)).toBe('x'.repeat(65_536)); // one read of the whole buffer: less than a record's room is left
    expect(read!(fd)).toBe('x'.repeat(100_000 - 65_536)); // the rest, then the end of the file
    expect(read!(fd)).toBe('');
    closeSync(fd);
    expect(read!(fd)).toBe(-9); // EBADF
  });
});

describe('the reader (a file standing in for /dev/kmsg)', () => {
  function fakeKmsg(): string {
    const path = join(dir, `kmsg-${seq}`);
    writeFileSync(path, rec(6, 'old: before anything') + rec(6, 'old: second'));
    return path;
  }

  it('a capture gets the records written after its mark, sync and async', async () => {
    const path = fakeKmsg();
    const mark = kmsgReader(path).beginSync();
    appendFileSync(path, rec(6, 'a: one') + rec(4, 'a: two'));
    expect(mark.endSync().records.map((r) => r.message)).toEqual(['a: one', 'a: two']);

    const next = await kmsgReader(path).begin();
    appendFileSync(path, rec(6, 'b: three'));
    expect((await next.end()).records.map((r) => r.message)).toEqual(['b: three']);
  });

  it('overlapping captures each get every record after their own mark', async () => {
    const path = fakeKmsg();
    const first = await kmsgReader(path).begin();
    appendFileSync(path, rec(6, 'x: 1'));
    const second = await kmsgReader(path).begin();
    appendFileSync(path, rec(6, 'y: 2'));
    expect((await second.end()).records.map((r) => r.message)).toEqual(['y: 2']);
    appendFileSync(path, rec(6, 'x: 3'));
    expect((await first.end()).records.map((r) => r.message)).toEqual(['x: 1', 'y: 2', 'x: 3']);
  });

  // Back-to-back calls (a load, then its unload) read the log to its end once between them, not twice.
  it('a mark taken in the same turn of the event loop as the end of a capture is that end, without reading again', async () => {
    const path = fakeKmsg();
    const reader = kmsgReader(path);
    const load = reader.beginSync();
    appendFileSync(path, rec(6, 'm: init'));
    expect(load.endSync().records.map((r) => r.message)).toEqual(['m: init']);
    // Written after the load's capture read the log's end, before the next mark, with no wait between:
    // the next mark does not read, so the record is after it, as one written just before its system call.
    appendFileSync(path, rec(6, 'm: between'));
    const unload = reader.beginSync();
    appendFileSync(path, rec(6, 'm: exit'));
    expect(unload.endSync().records.map((r) => r.message)).toEqual(['m: between', 'm: exit']);

    // Once the event loop has turned (it may have waited), a mark reads the log's end first.
    appendFileSync(path, rec(6, 'm: later'));
    await new Promise((resolve) => setImmediate(resolve));
    const next = await reader.begin();
    appendFileSync(path, rec(6, 'm: after'));
    expect((await next.end()).records.map((r) => r.message)).toEqual(['m: after']);
  });

  it('a record split across reads is put together', () => {
    const path = fakeKmsg();
    const mark = kmsgReader(path).beginSync();
    const long = 'z: ' + 'q'.repeat(9000);
    appendFileSync(path, rec(6, long));
    expect(mark.endSync().records.map((r) => r.message)).toEqual([long]);
  });

  it('an unreadable log gives no records and the reason, never an error', async () => {
    const missing = join(dir, 'no-such-kmsg');
    expect(kmsgReader(missing).beginSync().endSync()).toEqual({
      records: [],
      unavailable: expect.stringMatching(/^ENOENT: .*no-such-kmsg cannot be read/),
    });
    expect(await (await kmsgReader(missing).begin()).end()).toMatchObject({ records: [], unavailable: expect.stringMatching(/^ENOENT/) });
  });
});

describe('the bound API captures each call (fake kernel)', () => {
  /** A fake backend whose loads write `lines(name)` to the stand-in log, with unrelated lines around them. */
  function logging(kmsg: string, lines: (name: string) => string[], failWith?: number): Backend {
    const fake = createFakeBackend(new FakeKernel());
    const write = (path: string) => {
      const name = path.slice(path.lastIndexOf('/') + 1).replace(/\.ko$/, '');
      appendFileSync(
        kmsg,
        rec(6, 'EXT4-fs (vda): unrelated') +
          lines(name)
            .map((l) => rec(4, l))
            .join('') +
          rec(6, 'audit: unrelated'),
      );
    };
    const fail = (): PathOutcome => ({ ret: -(failWith ?? 0), syscall: 'finit_module' });
    return {
      ...fake,
      finitModulePath: async (path, params, flags, guard) => {
        await new Promise((r) => setTimeout(r, 5));
        write(path);
        return failWith ? fail() : fake.finitModulePath(path, params, flags, guard);
      },
      finitModulePathSync: (path, params, flags, guard) => {
        write(path);
        return failWith ? fail() : fake.finitModulePathSync(path, params, flags, guard);
      },
    };
  }
  function moduleFile(name: string): string {
    const path = join(dir, `${name}.ko`);
    writeFileSync(path, FakeKernel.image(name));
    return path;
  }

  it('two loads at once each get only their own lines; warnings on success', async () => {
    const kmsg = join(dir, 'kmsg-bound-1');
    writeFileSync(kmsg, rec(6, 'boot: old line'));
    const km = bind(
      logging(kmsg, (n) => [`${n}: loading out-of-tree module taints kernel.`, `${n}: init`]),
      { kmsgPath: kmsg },
    );
    const [a, b] = await Promise.all([km.loadModule(moduleFile('alpha')), km.loadModule(moduleFile('beta'))]);
    expect(a.kernelLog!.map((r) => r.message)).toEqual(['alpha: loading out-of-tree module taints kernel.', 'alpha: init']);
    expect(b.kernelLog!.map((r) => r.message)).toEqual(['beta: loading out-of-tree module taints kernel.', 'beta: init']);
    expect(a.warnings).toEqual([{ kind: 'taint', message: 'alpha: loading out-of-tree module taints kernel.' }]);
    expect(a.kernelLog![0]).toMatchObject({ level: 'warn', seq: expect.any(Number), usec: expect.any(Number) });
  });

  it('a failed load carries its lines, and the hint names the exporter from modules.symbols (sync and async)', async () => {
    const kmsg = join(dir, 'kmsg-bound-2');
    writeFileSync(kmsg, '');
    const moduleDirectory = mkdtempSync(join(dir, 'moddir-'));
    writeFileSync(join(moduleDirectory, 'modules.symbols'), 'alias symbol:garp_request_join garp\nalias symbol:mrp_request_join mrp\n');
    const km = bind(
      logging(kmsg, (n) => [`${n}: Unknown symbol garp_request_join (err -2)`, `${n}: Unknown symbol mrp_request_join (err -2)`], 2),
      { kmsgPath: kmsg, moduleDirectory },
    );
    const file = moduleFile('vlan8021q');
    for (const attempt of [() => km.loadModule(file), async () => km.loadModuleSync(file)]) {
      const err = (await attempt().catch((e: unknown) => e)) as KernmodError;
      expect(err).toBeInstanceOf(KernmodError);
      expect(err).toMatchObject({ code: 'ENOENT', syscall: 'finit_module' });
      expect(err.kernelLog!.map((r) => r.message)).toEqual([
        'vlan8021q: Unknown symbol garp_request_join (err -2)',
        'vlan8021q: Unknown symbol mrp_request_join (err -2)',
      ]);
      expect(err.hint).toMatch(/garp_request_join, mrp_request_join, exported by garp, mrp: load them first/);
      expect(err.toJSON()).toMatchObject({ kernelLog: err.kernelLog });
    }
  });

  it("a file whose name is not the module's (renamed): the lines are found by the module's own name (.modinfo name=)", async () => {
    const kmsg = join(dir, 'kmsg-bound-3');
    writeFileSync(kmsg, '');
    const file = join(dir, 'renamed-copy.ko');
    writeFileSync(
      file,
      buildElf({ class: 64, endian: 'little', sections: [{ name: '.modinfo', data: strings('license=GPL', 'name=realname') }] }),
    );
    const fake = createFakeBackend(new FakeKernel());
    const loads = (): PathOutcome => {
      appendFileSync(kmsg, rec(6, 'other: unrelated') + rec(6, 'realname: init'));
      return { ret: 0, syscall: 'finit_module' };
    };
    const km = bind({ ...fake, finitModulePath: async () => loads(), finitModulePathSync: loads }, { kmsgPath: kmsg });
    expect((await km.loadModule(file)).kernelLog!.map((r) => r.message)).toEqual(['realname: init']);
    expect(km.loadModuleSync(file).kernelLog!.map((r) => r.message)).toEqual(['realname: init']);
  });

  it('without a readable log the call is unaffected and says why', async () => {
    const km = bind(createFakeBackend(new FakeKernel()), { kmsgPath: join(dir, 'missing-kmsg') });
    const r = await km.loadModule(moduleFile('gamma'));
    expect(r).toMatchObject({ module: 'gamma', warnings: [], kernelLogUnavailable: expect.stringMatching(/^ENOENT/) });
    expect(r.kernelLog).toBeUndefined();
    const err = (await km.unloadModule('no_such_module').catch((e: unknown) => e)) as KernmodError;
    expect(err).toMatchObject({ code: 'ENOENT', syscall: 'delete_module', kernelLogUnavailable: expect.stringMatching(/^ENOENT/) });
    expect(err.kernelLog).toBeUndefined();
  });

  it('kernelLog: false reads no log', async () => {
    const km = bind(createFakeBackend(new FakeKernel()), { kmsgPath: join(dir, 'missing-kmsg') });
    const r = km.loadModuleSync(moduleFile('delta'), { kernelLog: false });
    expect(r).toMatchObject({ module: 'delta', warnings: [], kernelLogUnavailable: 'not captured (kernelLog: false)' });
  });
});
