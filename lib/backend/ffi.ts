// The fallback backend: the same three system calls through ffi-rs and libc's syscall(2), for hosts
// where the addon could not be compiled. errno comes from ffi-rs and is trusted only when the call
// returned -1 (ffi-rs does not clear errno before the call). The async forms run on a new thread
// (`runInNewThread`), where ffi-rs reads errno right after the call.
import { closeSync, openSync, constants as fsConstants } from 'node:fs';
import { open as openAsync } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { LINUX_DELETE_FLAGS, LINUX_MODULE_SYSCALLS, linuxModuleNameLen, type ModuleSyscalls } from './syscalls.js';
import { checkHead, checkHeadSync, guardLength } from './guard.js';
import type { Backend, PathOutcome } from './types.js';

type FfiRs = typeof import('ffi-rs');
interface ErrnoResult {
  value: number;
  errnoCode: number;
}

const LIBRARY = 'kernmod-libc';

function errnoOf(e: unknown): number {
  const code = (e as NodeJS.ErrnoException).errno;
  return typeof code === 'number' && code < 0 ? code : -5; /* EIO: an open error without errno */
}

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

  const sync = (args: readonly [readonly number[], readonly unknown[]]) => result(call([...args[0]], [...args[1]], false) as ErrnoResult);
  const async = async (args: readonly [readonly number[], readonly unknown[]]) =>
    result(await (call([...args[0]], [...args[1]], true) as Promise<ErrnoResult>));

  const openFlags = fsConstants.O_RDONLY; // Node opens every file with O_CLOEXEC on Linux

  return {
    name: 'ffi',
    system: 'linux',
    moduleNameLen: linuxModuleNameLen(process.arch),
    flags: LINUX_DELETE_FLAGS,
    initModule: (image, params) => async(initArgs(image, params)),
    initModuleSync: (image, params) => sync(initArgs(image, params)),
    finitModule: (fd, params, flags) => async(finitArgs(fd, params, flags)),
    finitModuleSync: (fd, params, flags) => sync(finitArgs(fd, params, flags)),
    async finitModulePath(path, params, flags, guard): Promise<PathOutcome> {
      const headLength = guard ? guardLength(guard) : 0;
      let handle;
      try {
        handle = await openAsync(path, openFlags);
      } catch (e) {
        return { ret: errnoOf(e), syscall: 'open' };
      }
      try {
        const stop = guard ? await checkHead(handle, guard, headLength) : undefined;
        if (stop) return stop;
        const ret = await async(finitArgs(handle.fd, params, flags));
        return { ret, syscall: 'finit_module' };
      } finally {
        await handle.close();
      }
    },
    finitModulePathSync(path, params, flags, guard): PathOutcome {
      const headLength = guard ? guardLength(guard) : 0;
      let fd: number;
      try {
        fd = openSync(path, openFlags);
      } catch (e) {
        return { ret: errnoOf(e), syscall: 'open' };
      }
      try {
        const stop = guard ? checkHeadSync(fd, guard, headLength) : undefined;
        if (stop) return stop;
        const ret = sync(finitArgs(fd, params, flags));
        return { ret, syscall: 'finit_module' };
      } finally {
        closeSync(fd);
      }
    },
    deleteModule: (name, flags) => async(deleteArgs(name, flags)),
    deleteModuleSync: (name, flags) => sync(deleteArgs(name, flags)),
  };
}
