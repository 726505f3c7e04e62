// Reading and writing the persisted files: a write goes to a temporary file in the same directory
// (a dot-name without .conf, which kmod and systemd skip), is fsynced, renamed over the target, and the
// directory fsynced, so a reader sees the old file or the new one, never a part. Only files that carry
// kernmod's marker are replaced or deleted; that is checked again just before each change.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { KernmodError } from '../errors.js';
import { readRegularFileSync } from '../fs-read.js';
import { isOurs } from './render.js';

export interface FileState {
  path: string;
  /** The content now; undefined when there is no file. */
  content: string | undefined;
  /** Written by kernmod (or absent). */
  ours: boolean;
}

/** A persisted file is read only when it is a regular file (never a FIFO someone left) of at most 16 MiB. */
const CONFIG_FILE_MAX_BYTES = 16 * 1024 * 1024;

export function readFileState(path: string): FileState {
  let content: string | undefined;
  try {
    content = readRegularFileSync(path, CONFIG_FILE_MAX_BYTES).toString('utf8');
  } catch (e) {
    if (e instanceof KernmodError) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fileError(e, path, 'read');
  }
  return { path, content, ours: content === undefined || isOurs(content) };
}

function fileError(e: unknown, path: string, what: string): KernmodError {
  const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
  const errno = (e as NodeJS.ErrnoException).errno;
  return new KernmodError({
    code,
    ...(typeof errno === 'number' ? { errno: -Math.abs(errno) } : {}),
    path,
    phase: 'open',
    message: `${code}: cannot ${what} ${path}`,
    hint:
      code === 'EROFS'
        ? 'the file system is read-only (give another directory, or --root for an image)'
        : code === 'EACCES' || code === 'EPERM'
          ? 'no permission (run as root)'
          : `${what} failed`,
    cause: e,
  });
}

function notOurs(path: string): KernmodError {
  return new KernmodError({
    code: 'ERR_KERNMOD_NOT_OURS',
    path,
    phase: 'validate',
    message: `${path} was not written by kernmod: left as it is`,
    hint: 'kernmod changes only files whose first line is its marker; move or remove this file yourself',
  });
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces (or creates) a kernmod file atomically. */
export function writeOwnedFile(path: string, content: string): void {
  if (!readFileState(path).ours) throw notOurs(path);
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.kernmod-${process.pid}-${Date.now()}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    const fd = openSync(tmp, 'wx', 0o644);
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    fsyncDir(dir);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw fileError(e, path, 'write');
  }
}

/** Deletes a kernmod file; a file of anyone else's is refused, a missing one is fine. */
export function removeOwnedFile(path: string): void {
  const state = readFileState(path);
  if (state.content === undefined) return;
  if (!state.ours) throw notOurs(path);
  try {
    unlinkSync(path);
    fsyncDir(dirname(path));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fileError(e, path, 'delete');
  }
}
