// The load/unload policy is written once, as generators that yield the effects they need (a syscall, a
// file read, a decompression, a pause) and receive the results. Two small drivers run them (effects.ts):
// one with the Backend's Promise calls and async file I/O, one with the sync calls. So loadModule and
// loadModuleSync cannot drift apart, and the policy itself does no I/O.
import type { HeadGuard, ImageOutcome, PathOutcome } from '../backend/types.js';

export type Effect =
  | { op: 'finitPath'; path: string; params: string; flags: number; guard?: HeadGuard }
  | { op: 'finitFd'; fd: number; params: string; flags: number }
  /** finit_module of bytes through an anonymous file (memfd_create): the only way bytes carry flags. */
  | { op: 'finitImage'; image: Uint8Array; params: string; flags: number }
  | { op: 'init'; image: Uint8Array; params: string }
  | { op: 'delete'; name: string; flags: number }
  /** Reads up to `length` bytes from the start of a file or fd (all of it without one): bytes or a negative errno. */
  | { op: 'read'; source: { path: string } | { fd: number }; length?: number }
  | { op: 'decompress'; bytes: Uint8Array }
  /** The format the kernel decompresses itself (/sys/module/compression), or null. */
  | { op: 'kernelCompression' }
  | { op: 'sleep'; ms: number }
  | { op: 'now' };

export interface EffectResults {
  finitPath: PathOutcome;
  finitFd: number;
  finitImage: ImageOutcome;
  init: number;
  delete: number;
  read: Uint8Array | number;
  decompress: Uint8Array;
  kernelCompression: string | null;
  // biome-ignore lint/suspicious/noConfusingVoidType: a sleep answers nothing, as the runner's Promise<void>
  sleep: void;
  now: number;
}

/** A policy: yields effects, gets each one's result back (typed by EffectResults), returns T. */
export type Steps<T> = Generator<Effect, T, unknown>;
