// The load/unload policy is written once, as generators that yield the effects they need (a syscall, a
// file read, a decompression, a pause) and receive the results. Two small drivers run them: one with
// the Backend's Promise calls and async file I/O, one with the sync calls. So loadModule and
// loadModuleSync cannot drift apart, and the policy itself does no I/O.
import type { HeadGuard, PathOutcome } from '../backend/types.js';

export type Effect =
  | { op: 'finitPath'; path: string; params: string; flags: number; guard?: HeadGuard }
  | { op: 'finitFd'; fd: number; params: string; flags: number }
  | { op: 'init'; image: Uint8Array; params: string }
  | { op: 'delete'; name: string; flags: number }
  /** Reads up to `length` bytes from the start of a file or fd; resolves to bytes or a negative errno. */
  | { op: 'read'; source: { path: string } | { fd: number }; length?: number }
  | { op: 'decompress'; bytes: Uint8Array }
  /** The format the kernel decompresses itself (/sys/module/compression), or null. */
  | { op: 'kernelCompression' }
  /** Writes bytes to a private temporary file; resolves to its path. */
  | { op: 'stage'; image: Uint8Array }
  | { op: 'unstage'; path: string }
  | { op: 'sleep'; ms: number }
  | { op: 'now' };

export interface EffectResults {
  finitPath: PathOutcome;
  finitFd: number;
  init: number;
  delete: number;
  read: Uint8Array | number;
  decompress: Uint8Array;
  kernelCompression: string | null;
  stage: string;
  unstage: void;
  sleep: void;
  now: number;
}

/**
 * A policy: yields effects, gets each one's result back, returns T. A policy writes
 * `(yield effect) as EffectResults['op']`: a plain yield, since a helper generator per effect (yield*)
 * costs an object and a delegation on every load — measurable under emulation, where the VM rig runs.
 */
export type Steps<T> = Generator<Effect, T, unknown>;
