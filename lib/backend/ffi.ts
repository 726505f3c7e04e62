// The fallback backend: the same three system calls through ffi-rs and libc's syscall(2), for hosts
// where the addon could not be compiled. errno comes from ffi-rs and is trusted only when the call
// returned -1 (ffi-rs does not clear errno before the call). The async forms run on a new thread
// (`runInNewThread`), where ffi-rs reads errno right after the call.
import { close, closeSync, write, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { LINUX_DELETE_FLAGS, LINUX_MODULE_SYSCALLS, MFD_CLOEXEC, linuxModuleNameLen, type ModuleSyscalls } from './syscalls.js';
import { errnoOf, finitPath, finitPathSync, hasNul } from './guard.js';
import type { Backend, ImageOutcome } from './types.js';
import { LINUX_ERRNO } from '../errno.js';

type FfiRs = typeof import('ffi-rs');
interface ErrnoResult {
  value: number;
  errnoCode: number;
}

const LIBRARY = 'kernmod-libc';
const EINVAL = -LINUX_ERRNO.EINVAL;
const writeAsync = promisify(write);
const closeAsync = promisify(close);

export function createFfiBackend(): Backend {
  if (process.platform !== 'linux') {
    throw new Error(`the ffi backend drives Linux system calls; this is ${process.platform}`);
  }
  const nr: ModuleSyscalls | undefined = LINUX_MODULE_SYSCALLS[process.arch];
  if (!nr) throw new Error(`no module system-call numbers known for architecture ${process.arch}`);
  const require = createRequire(import.meta.url);
  const ffi = require('ffi-rs') as FfiRs;
  ffi.open({ library: LIBRARY, path: '' }); // '' = the C library already in the process
  const { DataType } = ffi;

  // One call shape per syscall: syscall(long nr, args...) -> long.
  const call = (paramsType: number[], paramsValue: unknown[], async: boolean) =>
    ffi.load({
      library: LIBRARY,
      funcName: 'syscall',
      retType: DataType.I64,
      paramsType: paramsType as never[],
      paramsValue,
      errno: true,
      runInNewThread: async,
    } as never) as unknown as ErrnoResult | Promise<ErrnoResult>;

  const result = (r: ErrnoResult): number => (r.value === -1 ? -r.errnoCode : r.value);

  const initArgs = (image: Uint8Array, params: string) => {
    // ffi-rs takes a Buffer for U8Array; view the caller's bytes without copying when possible.
    const buf = Buffer.isBuffer(image) ? image : Buffer.from(image.buffer, image.byteOffset, image.byteLength);
    return [
      [DataType.I64, DataType.U8Array, DataType.I64, DataType.String],
      [nr.init_module, buf, buf.length, params],
    ] as const;
  };
  const finitArgs = (fd: number, params: string, flags: number) =>
    [
      [DataType.I64, DataType.I32, DataType.String, DataType.I32],
      [nr.finit_module, fd, params, flags],
    ] as const;
  const deleteArgs = (name: string, flags: number) =>
    [
      [DataType.I64, DataType.String, DataType.I32],
      [nr.delete_module, name, flags],
    ] as const;
  const memfdArgs = [
    [DataType.I64, DataType.String, DataType.I32],
    [nr.memfd_create, 'kernmod', MFD_CLOEXEC],
  ] as const;

  const sync = (args: readonly [readonly number[], readonly unknown[]]) => result(call([...args[0]], [...args[1]], false) as ErrnoResult);
  const async = async (args: readonly [readonly number[], readonly unknown[]]) =>
    result(await (call([...args[0]], [...args[1]], true) as Promise<ErrnoResult>));

  // finitModuleImage: the whole image into the memory file (fs.write* resume after EINTR; a short write
  // goes on from where it stopped), then finit_module, then close on every path.
  const writeAllSync = (fd: number, image: Uint8Array): number => {
    try {
      for (let done = 0; done < image.byteLength; ) {
        const n = writeSync(fd, image, done, image.byteLength - done);
        if (n <= 0) return -LINUX_ERRNO.ENOSPC; // no progress on a memory file
        done += n;
      }
      return 0;
    } catch (e) {
      return errnoOf(e);
    }
  };
  const writeAll = async (fd: number, image: Uint8Array): Promise<number> => {
    for (let done = 0; done < image.byteLength; ) {
      const { bytesWritten } = await writeAsync(fd, image, done, image.byteLength - done);
      if (bytesWritten <= 0) return -LINUX_ERRNO.ENOSPC;
      done += bytesWritten;
    }
    return 0;
  };

  return {
    name: 'ffi',
    system: 'linux',
    moduleNameLen: linuxModuleNameLen(process.arch),
    flags: LINUX_DELETE_FLAGS,
    // The async forms work on their own copy of an image (new Uint8Array): the caller may detach its buffer while the call waits.
    initModule: (image, params) => (hasNul(params) ? Promise.resolve(EINVAL) : async(initArgs(new Uint8Array(image), params))),
    initModuleSync: (image, params) => (hasNul(params) ? EINVAL : sync(initArgs(image, params))),
    finitModule: (fd, params, flags) => (hasNul(params) ? Promise.resolve(EINVAL) : async(finitArgs(fd, params, flags))),
    finitModuleSync: (fd, params, flags) => (hasNul(params) ? EINVAL : sync(finitArgs(fd, params, flags))),
    finitModulePath: (path, params, flags, guard) => finitPath(path, params, guard, (fd) => async(finitArgs(fd, params, flags))),
    finitModulePathSync: (path, params, flags, guard) => finitPathSync(path, params, guard, (fd) => sync(finitArgs(fd, params, flags))),
    async finitModuleImage(image, params, flags): Promise<ImageOutcome> {
      if (hasNul(params)) return { ret: EINVAL, syscall: 'finit_module' };
      const copy = new Uint8Array(image);
      const fd = await async(memfdArgs);
      if (fd < 0) return { ret: fd, syscall: 'memfd_create' };
      try {
        const w = await writeAll(fd, copy).catch(errnoOf);
        if (w < 0) return { ret: w, syscall: 'write' };
        return { ret: await async(finitArgs(fd, params, flags)), syscall: 'finit_module' };
      } finally {
        await closeAsync(fd);
      }
    },
    finitModuleImageSync(image, params, flags): ImageOutcome {
      if (hasNul(params)) return { ret: EINVAL, syscall: 'finit_module' };
      const fd = sync(memfdArgs);
      if (fd < 0) return { ret: fd, syscall: 'memfd_create' };
      try {
        const w = writeAllSync(fd, image);
        if (w < 0) return { ret: w, syscall: 'write' };
        return { ret: sync(finitArgs(fd, params, flags)), syscall: 'finit_module' };
      } finally {
        closeSync(fd);
      }
    },
    deleteModule: (name, flags) => (hasNul(name) ? Promise.resolve(EINVAL) : async(deleteArgs(name, flags))),
    deleteModuleSync: (name, flags) => (hasNul(name) ? EINVAL : sync(deleteArgs(name, flags))),
  };
}
