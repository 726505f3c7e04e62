// The load/unload policy as data: each row scripts what the system calls answer, and the same row
// drives the async and the sync API. Both must make the same calls in the same order and end the same
// way, and that way must be the row's: so the two forms cannot drift apart, and every branch of the
// policy (fallbacks, predictions, errors) is exercised through both runners.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeKernel } from '../../lib/backend/fake.js';
import { LINUX_DELETE_FLAGS } from '../../lib/backend/syscalls.js';
import type { Backend } from '../../lib/backend/types.js';
import { COMPRESSION_MAGICS } from '../../lib/compress/index.js';
import {
  loadModule,
  loadModuleSync,
  unloadModule,
  unloadModuleSync,
  type LoadOptions,
  type ModuleSource,
  type UnloadOptions,
} from '../../lib/linux/load.js';

const dir = mkdtempSync(join(tmpdir(), 'kernmod-policy-'));
const file = (name: string, bytes: Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};
const sysRoot = join(dir, 'sys');
mkdirSync(join(sysRoot, 'module'), { recursive: true });
writeFileSync(join(sysRoot, 'module/compression'), 'xz\n');

const raw = FakeKernel.image('demo');
const xz = (args: string[]) => {
  const r = spawnSync('xz', ['-c', ...args], { input: raw });
  return r.status === 0 ? r.stdout : null;
};
const kernelXz = xz(['--check=crc32', '--lzma2=dict=1MiB']);
const plainXz = xz([]);
const plain = file('demo.ko', raw);
const kxz = kernelXz ? file('demo-k.ko.xz', kernelXz) : '';
const pxz = plainXz ? file('demo-p.ko.xz', plainXz) : '';
const XZ_HEAD = COMPRESSION_MAGICS[1]!;

/** One scripted answer: the call it answers (method name) and what it returns, or throws. */
type Answer = [method: string, value: unknown] | [method: string, value: unknown, 'throws'];

/** A Backend that answers from a script and logs each call; async and sync forms share the script. */
function scripted(script: Answer[]) {
  const calls: string[] = [];
  let i = 0;
  const answer = (method: string, detail: string) => {
    calls.push(`${method}${detail}`);
    const a = script[i++];
    if (!a || a[0] !== method) throw new Error(`unscripted call ${method} (script has ${a?.[0] ?? 'nothing'} at ${i - 1})`);
    if (a[2] === 'throws') throw a[1];
    return a[1];
  };
  const both = <A extends unknown[]>(method: string, detail: (...args: A) => string) => ({
    sync: (...args: A) => answer(method, detail(...args)),
    async: (...args: A) => new Promise((resolve) => setImmediate(resolve)).then(() => answer(method, detail(...args))),
  });
  const finitPath = both(
    'finitModulePath',
    (_p: string, params: string, flags: number, guard?: unknown) => ` params=${params} flags=${flags}${guard ? ' guard' : ''}`,
  );
  const finitFd = both('finitModule', (_fd: number, params: string, flags: number) => ` params=${params} flags=${flags}`);
  const finitImage = both('finitModuleImage', (_i: Uint8Array, params: string, flags: number) => ` params=${params} flags=${flags}`);
  const init = both('initModule', (_i: Uint8Array, params: string) => ` params=${params}`);
  const del = both('deleteModule', (name: string, flags: number) => ` ${name} flags=${flags}`);
  const backend = {
    name: 'fake',
    system: 'linux',
    moduleNameLen: 56,
    flags: LINUX_DELETE_FLAGS,
    finitModulePath: finitPath.async,
    finitModulePathSync: finitPath.sync,
    finitModule: finitFd.async,
    finitModuleSync: finitFd.sync,
    finitModuleImage: finitImage.async,
    finitModuleImageSync: finitImage.sync,
    initModule: init.async,
    initModuleSync: init.sync,
    deleteModule: del.async,
    deleteModuleSync: del.sync,
  } as unknown as Backend;
  return { backend, calls, done: () => i === script.length };
}

interface Row {
  name: string;
  skip?: boolean;
  load?: { source: () => ModuleSource; options?: LoadOptions };
  unload?: { name: string; options?: UnloadOptions };
  script: Answer[];
  /** What the call ends with: a subset of the result, or of the error (with `error: true`). */
  outcome: Record<string, unknown>;
  /** The calls in order (method and arguments that matter). */
  calls: string[];
}

const ok = { ret: 0, syscall: 'finit_module' };
const typeError = new TypeError('backend bug');

const rows: Row[] = [
  {
    name: 'a plain module by path: one guarded finit_module',
    load: { source: () => plain },
    script: [['finitModulePath', ok]],
    outcome: { syscall: 'finit_module', module: 'demo', path: plain, flags: 0 },
    calls: ['finitModulePath params= flags=0 guard'],
  },
  {
    name: 'params and flags travel to the first call',
    load: { source: () => plain, options: { params: { x: 1 }, ignoreVermagic: true } },
    script: [['finitModulePath', ok]],
    outcome: { syscall: 'finit_module', params: 'x=1', flags: 2 },
    calls: ['finitModulePath params=x=1 flags=2 guard'],
  },
  {
    name: "the kernel's refusal is the error, named after finit_module",
    load: { source: () => plain },
    script: [['finitModulePath', { ret: -17, syscall: 'finit_module' }]],
    outcome: { error: true, code: 'EEXIST', syscall: 'finit_module', path: plain, module: 'demo' },
    calls: ['finitModulePath params= flags=0 guard'],
  },
  {
    name: 'an open failure is named after open',
    load: { source: () => plain },
    script: [['finitModulePath', { ret: -2, syscall: 'open' }]],
    outcome: { error: true, code: 'ENOENT', syscall: 'open', phase: 'open' },
    calls: ['finitModulePath params= flags=0 guard'],
  },
  {
    name: 'finit_module ENOSYS falls back to init_module of the bytes',
    load: { source: () => plain },
    script: [
      ['finitModulePath', { ret: -38, syscall: 'finit_module' }],
      ['initModule', 0],
    ],
    outcome: { syscall: 'init_module', fallback: 'finit_module-enosys' },
    calls: ['finitModulePath params= flags=0 guard', 'initModule params='],
  },
  {
    name: 'a kernel-format xz goes to finit_module with MODULE_INIT_COMPRESSED_FILE',
    skip: !kernelXz,
    load: { source: () => kxz },
    script: [
      ['finitModulePath', { ret: 0, syscall: 'read', stopped: true, head: XZ_HEAD }],
      ['finitModulePath', ok],
    ],
    outcome: { syscall: 'finit_module', flags: 4, compression: { format: 'xz', decompressedBy: 'kernel' } },
    calls: ['finitModulePath params= flags=0 guard', 'finitModulePath params= flags=4'],
  },
  {
    name: "issue #17: after the kernel decompressed it, EINVAL (the module's init) is the error, never retried",
    skip: !kernelXz,
    load: { source: () => kxz },
    script: [
      ['finitModulePath', { ret: 0, syscall: 'read', stopped: true, head: XZ_HEAD }],
      ['finitModulePath', { ret: -22, syscall: 'finit_module' }],
    ],
    outcome: { error: true, code: 'EINVAL', syscall: 'finit_module', hint: expect.stringMatching(/init/) },
    calls: ['finitModulePath params= flags=0 guard', 'finitModulePath params= flags=4'],
  },
  {
    name: 'a plain-xz (CRC64) file goes to user space before any load call, saying why',
    skip: !plainXz,
    load: { source: () => pxz },
    script: [
      ['finitModulePath', { ret: 0, syscall: 'read', stopped: true, head: XZ_HEAD }],
      ['initModule', 0],
    ],
    outcome: {
      syscall: 'init_module',
      fallback: 'kernel-cannot-decompress',
      fallbackReason: expect.stringMatching(/CRC64/),
      compression: { format: 'xz', decompressedBy: 'user' },
    },
    calls: ['finitModulePath params= flags=0 guard', 'initModule params='],
  },
  {
    name: "decompress: 'kernel' hands even a plain-xz file to the kernel",
    skip: !plainXz,
    load: { source: () => pxz, options: { decompress: 'kernel' } },
    script: [
      ['finitModulePath', { ret: 0, syscall: 'read', stopped: true, head: XZ_HEAD }],
      ['finitModulePath', { ret: -22, syscall: 'finit_module' }],
    ],
    outcome: { error: true, code: 'EINVAL', syscall: 'finit_module', hint: expect.stringMatching(/--check=crc32/) },
    calls: ['finitModulePath params= flags=0 guard', 'finitModulePath params= flags=4'],
  },
  {
    name: 'bytes without flags: init_module',
    load: { source: () => raw },
    script: [['initModule', 0]],
    outcome: { syscall: 'init_module', module: 'demo' },
    calls: ['initModule params='],
  },
  {
    name: 'bytes with flags: finit_module of an anonymous file',
    load: { source: () => raw, options: { ignoreModversions: true } },
    script: [['finitModuleImage', ok]],
    outcome: { syscall: 'finit_module', fallback: 'anonymous-file', flags: 1 },
    calls: ['finitModuleImage params= flags=1'],
  },
  {
    name: 'no memfd_create: a typed error naming it',
    load: { source: () => raw, options: { ignoreVermagic: true } },
    script: [['finitModuleImage', { ret: -38, syscall: 'memfd_create' }]],
    outcome: { error: true, code: 'ENOSYS', syscall: 'memfd_create', hint: expect.stringMatching(/memfd_create/) },
    calls: ['finitModuleImage params= flags=2'],
  },
  {
    name: 'a backend failure without errno is a KernmodError keeping its cause',
    load: { source: () => plain },
    script: [['finitModulePath', typeError, 'throws']],
    outcome: { error: true, name: 'KernmodError', code: 'ERR_KERNMOD_INTERNAL', cause: typeError },
    calls: ['finitModulePath params= flags=0 guard'],
  },
  {
    name: 'bad input: a typed error and no call',
    load: { source: () => new URL('file:///x%00.ko') },
    script: [],
    outcome: { error: true, code: 'ERR_KERNMOD_INVALID_SOURCE', phase: 'validate' },
    calls: [],
  },
  {
    name: 'unload: normalised name, O_NONBLOCK',
    unload: { name: 'demo-mod' },
    script: [['deleteModule', 0]],
    outcome: { module: 'demo_mod', attempts: 1, waitedMs: 0, flags: 0o4000 },
    calls: ['deleteModule demo_mod flags=2048'],
  },
  {
    name: 'unload with wait retries EAGAIN',
    unload: { name: 'demo', options: { wait: 5000, force: true } },
    script: [
      ['deleteModule', -11],
      ['deleteModule', 0],
    ],
    outcome: { module: 'demo', attempts: 2, flags: 0o4000 | 0o1000 },
    calls: ['deleteModule demo flags=2560', 'deleteModule demo flags=2560'],
  },
  {
    name: 'unload without wait: EAGAIN is the error',
    unload: { name: 'demo' },
    script: [['deleteModule', -11]],
    outcome: { error: true, code: 'EAGAIN', syscall: 'delete_module', module: 'demo' },
    calls: ['deleteModule demo flags=2048'],
  },
];

async function settle(f: () => unknown): Promise<Record<string, unknown>> {
  try {
    return { ...((await f()) as object) };
  } catch (e) {
    const err = e as Record<string, unknown>;
    return {
      error: true,
      name: err.name,
      code: err.code,
      syscall: err.syscall,
      path: err.path,
      module: err.module,
      phase: err.phase,
      hint: err.hint,
      cause: err.cause,
    };
  }
}

describe('the load/unload policy, one table for the async and the sync runner', () => {
  for (const row of rows) {
    it.skipIf(row.skip === true)(row.name, async () => {
      const env = { sysRoot };
      const a = scripted(row.script);
      const s = scripted(row.script);
      const [asyncOut, syncOut] = row.load
        ? [
            await settle(() => loadModule(a.backend, row.load!.source(), row.load!.options, env)),
            await settle(() => loadModuleSync(s.backend, row.load!.source(), row.load!.options, env)),
          ]
        : [
            await settle(() => unloadModule(a.backend, row.unload!.name, row.unload!.options)),
            await settle(() => unloadModuleSync(s.backend, row.unload!.name, row.unload!.options)),
          ];
      expect(asyncOut).toMatchObject(row.outcome);
      if (row.unload && 'waitedMs' in asyncOut) delete asyncOut.waitedMs, delete syncOut.waitedMs;
      expect(syncOut).toEqual(asyncOut);
      expect(a.calls).toEqual(row.calls);
      expect(s.calls).toEqual(row.calls);
      expect(a.done() && s.done()).toBe(true);
    });
  }

  it('an fd source: the head is read from the fd, then finit_module on it', async () => {
    const fd = openSync(plain, 'r');
    try {
      for (const run of [(b: Backend) => loadModule(b, { fd }), (b: Backend) => loadModuleSync(b, { fd })]) {
        const { backend, calls } = scripted([['finitModule', 0]]);
        await expect(settle(() => run(backend))).resolves.toMatchObject({ syscall: 'finit_module', module: 'demo' });
        expect(calls).toEqual(['finitModule params= flags=0']);
      }
    } finally {
      closeSync(fd);
    }
  });
});
