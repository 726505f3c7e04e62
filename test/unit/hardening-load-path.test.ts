// Issue #16 follow-up: a module *path* that names a FIFO (or any file that is not regular) is refused
// at once by every backend's finit_module-by-path: the open does not wait for a writer (O_NONBLOCK), and
// what is not a regular file is not passed to the kernel. loadModule and loadModuleSync report it as the
// regular-file reader does (ERR_KERNMOD_INVALID_SOURCE, EINVAL). A FIFO used to block the open forever,
// so each backend runs in a child process with a time limit: a hang fails the case, not the suite.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compiledLib } from './compiled-lib.js';

const dir = mkdtempSync(join(tmpdir(), 'kernmod-hardening-path-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fifo = join(dir, 'pipe.ko');
execFileSync('mkfifo', [fifo]);
const subdir = join(dir, 'dir.ko');
mkdirSync(subdir);
// Transpiling lib/ for the children takes a while on a loaded host: not part of any case's time.
beforeAll(() => void compiledLib(), 300_000);

/** Runs an ES module body (with `lib` bound to the compiled lib/ directory) in a child; its JSON output, or 'hung'. */
function isolated(body: string): unknown {
  const lib = compiledLib();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `const lib = ${JSON.stringify(lib + '/lib')};\n${body}`], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.error || r.status === null) return 'hung';
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** The child's backend, bound as the library binds it; `kernel` is the fake's record of calls, else null. */
const BACKENDS: Record<string, string> = {
  native: `
    const { createNativeBackend, loadNativeBinding } = await import(lib + '/backend/native.js');
    const backend = createNativeBackend(loadNativeBinding()), kernel = null;`,
  ffi: `
    const { createFfiBackend } = await import(lib + '/backend/ffi.js');
    const backend = createFfiBackend(), kernel = null;`,
  fake: `
    const { createFakeBackend, FakeKernel } = await import(lib + '/backend/fake.js');
    const kernel = new FakeKernel();
    const backend = createFakeBackend(kernel);`,
};

function run(backend: string, path: string): unknown {
  return isolated(`
    ${BACKENDS[backend]}
    const { bind } = await import(lib + '/kernmod.js');
    const km = bind(backend);
    const path = ${JSON.stringify(path)};
    const shape = (e) => ({ name: e.constructor.name, code: e.code, errno: e.errno, path: e.path });
    const out = {};
    out.backendAsync = await backend.finitModulePath(path, '', 0);
    out.backendSync = backend.finitModulePathSync(path, '', 0);
    out.guardedSync = backend.finitModulePathSync(path, '', 0, [new Uint8Array([0xfd, 0x37])]);
    out.loadModule = await km.loadModule(path).then(() => 'loaded', shape);
    try { km.loadModuleSync(path); out.loadModuleSync = 'loaded'; } catch (e) { out.loadModuleSync = shape(e); }
    out.kernelCalls = kernel ? kernel.calls.filter((c) => c.syscall !== 'open') : [];
    console.log(JSON.stringify(out));`);
}

describe('a module path that is not a regular file: refused at once, typed, nothing loaded', () => {
  for (const backend of Object.keys(BACKENDS)) {
    it(`${backend}: a FIFO is ERR_KERNMOD_INVALID_SOURCE (EINVAL) from loadModule and loadModuleSync, without waiting for a writer`, () => {
      const refused = { ret: -22, syscall: 'open', notRegular: true };
      const typed = { name: 'KernmodError', code: 'ERR_KERNMOD_INVALID_SOURCE', errno: -22, path: fifo };
      expect(run(backend, fifo)).toEqual({
        backendAsync: refused,
        backendSync: refused,
        guardedSync: refused,
        loadModule: typed,
        loadModuleSync: typed,
        kernelCalls: [],
      });
    }, 120_000);

    it(`${backend}: a directory is EISDIR, as read(2) says, and the kernel is not asked`, () => {
      const isDir = { ret: -21, syscall: 'read' };
      const typed = { name: 'KernmodError', code: 'EISDIR', errno: -21, path: subdir };
      expect(run(backend, subdir)).toEqual({
        backendAsync: isDir,
        backendSync: isDir,
        guardedSync: isDir,
        loadModule: typed,
        loadModuleSync: typed,
        kernelCalls: [],
      });
    }, 120_000);
  }
});
