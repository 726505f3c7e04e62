// The addon itself (native/kernmod.cc), below the backend: how it reads its arguments, and its Promise
// forms (Call: on the environment's syscall thread, or the pool through uv_queue_work when that thread
// is busy, completed in one async context per environment). On this host
// the module syscalls answer ENOSYS, which is enough to check what the mechanism promises: arguments
// of every accepted kind read exactly (the head guard reads the file back through the path it got),
// async context survives the hop, and a worker thread that ends with
// calls in flight neither crashes nor leaks into the main thread.
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawnSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNativeBinding } from '../../lib/backend/native.js';
import { requireLine } from '../shared/addon.js';

const ENOSYS = -38;
const hostHasModules = (() => {
  try {
    return loadNativeBinding().deleteModuleSync('kernmod_no_such_module', 2048) !== ENOSYS;
  } catch {
    return true; // no addon: nothing to test here (the build tests say why)
  }
})();

describe.skipIf(hostHasModules)('native argument reading', () => {
  const b = loadNativeBinding();
  const dir = mkdtempSync(join(tmpdir(), 'kernmod-binding-'));
  const xz = Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00);
  const guard = Uint8Array.of(6, ...xz);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads short and long paths exactly, sync and async (the guard stops on the file it opened)', async () => {
    // One path under the addon's stack buffer, one far over it, with multi-byte characters at the seam.
    const short = join(dir, 'm.ko.xz');
    const deep = join(dir, 'é'.repeat(120), 'ü'.repeat(120), `${'x'.repeat(200)}.ko.xz`);
    mkdirSync(join(deep, '..'), { recursive: true });
    for (const path of [short, deep]) {
      writeFileSync(path, Buffer.concat([xz, Buffer.alloc(32)]));
      const stopped = [0, 2, Buffer.from(xz)];
      expect(b.finitModulePathSync(path, '', 0, guard)).toEqual(stopped);
      expect(await b.finitModulePath(path, 'p=1', 0, guard)).toEqual(stopped);
      // One byte off and the open fails: the path was not read approximately.
      expect(b.finitModulePathSync(path.slice(0, -1), '', 0, guard)).toEqual([-2, 0]);
    }
  });

  it('reads paths whose 4-byte characters straddle the addon’s buffer end at every alignment', () => {
    for (let pad = 0; pad < 8; pad++) {
      const path = join(dir, `${'a'.repeat(pad)}${'😀'.repeat(58)}.xz`);
      writeFileSync(path, xz);
      expect(b.finitModulePathSync(path, '', 0, guard)).toEqual([0, 2, Buffer.from(xz)]);
    }
  });

  it('takes a guard as a view at an offset into a larger buffer', () => {
    const path = join(dir, 'view.ko.xz');
    writeFileSync(path, xz);
    const big = new Uint8Array(64);
    big.set(guard, 40);
    expect(b.finitModulePathSync(path, '', 0, big.subarray(40, 40 + guard.length))).toEqual([0, 2, Buffer.from(xz)]);
    expect(b.finitModulePathSync(path, '', 0, undefined)).toBe(-38); // no guard: straight to finit_module
  });

  it('refuses a string with a NUL inside (path, params, name) with -EINVAL before any system call, sync and async', async () => {
    const path = join(dir, 'nul.ko.xz');
    writeFileSync(path, xz);
    // The part before the NUL names a file that exists: a truncated path would open it.
    expect(b.finitModulePathSync(`${path}\0.gz`, '', 0, guard)).toEqual([-22, 0]);
    expect(await b.finitModulePath(`${path}\0.gz`, '', 0, guard)).toEqual([-22, 0]);
    // Params with a NUL would reach the kernel cut short: refused as finit_module's own EINVAL would be.
    expect(b.finitModulePathSync(path, 'a=1\0b=2', 0, guard)).toBe(-22);
    expect(await b.finitModulePath(path, 'a=1\0b=2', 0, guard)).toBe(-22);
    expect(b.finitModuleSync(-1, 'a=1\0', 0)).toBe(-22);
    expect(await b.finitModule(-1, '\0', 0)).toBe(-22);
    expect(b.initModuleSync(new Uint8Array(8), 'x\0y')).toBe(-22);
    expect(await b.initModule(new Uint8Array(8), 'x\0y')).toBe(-22);
    expect(b.deleteModuleSync('kernmod_x\0y', 2048)).toBe(-22);
    expect(await b.deleteModule('kernmod_x\0y', 2048)).toBe(-22);
    // A NUL past the addon's stack buffer is found too.
    expect(b.deleteModuleSync(`${'x'.repeat(300)}\0y`, 2048)).toBe(-22);
  });

  it('accepts every kind of image memory, and says which argument is wrong otherwise', async () => {
    const ab = new ArrayBuffer(64);
    for (const image of [Buffer.alloc(8), new Uint8Array(ab, 8, 8), new Int16Array(ab, 2, 4), new DataView(ab, 4, 8), ab]) {
      expect(b.initModuleSync(image as Uint8Array, '')).toBe(-38);
      expect(await b.initModule(image as Uint8Array, '')).toBe(-38);
    }
    expect(() => b.initModuleSync('x' as never, '')).toThrow(new TypeError('image must be a Buffer, TypedArray, DataView or ArrayBuffer'));
    expect(() => b.initModule(new Uint8Array(1), 1 as never)).toThrow(new TypeError('params must be a string'));
    expect(() => b.finitModulePath(1 as never, '', 0)).toThrow(new TypeError('path must be a string'));
    expect(() => b.finitModulePath('/x', '', '0' as never)).toThrow(new TypeError('flags must be a number'));
    expect(() => b.finitModulePathSync('/x', '', 0, [guard] as never)).toThrow(new TypeError('guard must be an encoded Uint8Array'));
    expect(() => b.finitModulePathSync('/x', '', 0, Uint8Array.of(17))).toThrow(RangeError);
    expect(() => (b.deleteModule as (...a: unknown[]) => unknown)('m')).toThrow(new TypeError('flags must be a number'));
    expect(() => (b.deleteModuleSync as (...a: unknown[]) => unknown)()).toThrow(new TypeError('name must be a string'));
  });
});

describe.skipIf(hostHasModules)('native Promise calls', () => {
  const b = loadNativeBinding();

  it('keep each caller’s AsyncLocalStorage store across the thread hop, with calls interleaved', async () => {
    const als = new AsyncLocalStorage<number>();
    const seen = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        als.run(i, async () => {
          const ret = await (i % 2 ? b.deleteModule('kernmod_x', 2048) : b.finitModulePath('/nonexistent/kernmod_x.ko', '', 0));
          return [i, als.getStore(), typeof ret];
        }),
      ),
    );
    expect(seen).toEqual(Array.from({ length: 8 }, (_, i) => [i, i, i % 2 ? 'number' : 'object']));
  });

  it('resolve every call of a burst, each with its own result', async () => {
    const rets = await Promise.all(
      Array.from({ length: 64 }, (_, i) => (i % 2 ? b.deleteModule(`m${i}`, 2048) : b.finitModule(-1, '', 0))),
    );
    expect(rets).toEqual(Array.from({ length: 64 }, () => ENOSYS));
  });

  // init_module reads the image in the kernel, after the call has waited for a thread: the bytes must
  // still be the call's then, whatever the caller did to its buffer meanwhile. A child process with one
  // pool thread, held (as is the syscall thread) in readOne of a FIFO, so that the call waits in the
  // queue while its buffer is detached: moved to a clone and zeroed, or moved and freed. On this host the
  // kernel answers ENOSYS without reading, so only the sanitizer build (scripts/test-sanitizers.mjs),
  // whose addon reads the image first as the kernel's copy would, sees a use after free here.
  it('keep the image a call was given though the caller detaches its buffer while the call waits', { timeout: 60_000 }, () => {
    const script = `
      ${requireLine('kernmod', 'b')}
      const { mkdtempSync, openSync, rmSync, writeSync, constants } = require('node:fs');
      const dir = mkdtempSync(require('node:path').join(require('node:os').tmpdir(), 'kernmod-detach-'));
      require('node:child_process').spawnSync('mkfifo', [dir + '/a', dir + '/b']);
      // A call that lasts: readOne of a FIFO opened for reading and writing waits until a byte is written.
      const fds = {};
      const hold = (f) => b.readOne((fds[f] = openSync(f, constants.O_RDWR)));
      const unblock = async (f) => void writeSync(fds[f], 'x');
      const detach = {
        zeroed: (ab) => new Uint8Array(structuredClone(ab, { transfer: [ab] })).fill(0),
        freed: (ab) => { structuredClone(ab, { transfer: [ab] }); globalThis.gc(); },
      };
      (async () => {
        const out = [];
        for (const call of ['initModule', 'finitModuleImage']) {
          for (const how of Object.keys(detach)) {
            for (const size of [64 << 10, 4 << 20]) {
              const held = [hold(dir + '/a'), hold(dir + '/b')];
              const image = new Uint8Array(size).fill(0x7f);
              const ret = call === 'initModule' ? b.initModule(image, '') : b.finitModuleImage(image, '', 0);
              try {
                detach[how](image.buffer);
              } finally {
                await unblock(dir + '/a');
                await unblock(dir + '/b');
              }
              await Promise.all(held);
              out.push([call, how, size, await ret]);
            }
          }
        }
        rmSync(dir, { recursive: true });
        process.stdout.write(JSON.stringify(out));
      })();
    `;
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
    });
    expect(r.status, r.stderr).toBe(0);
    const want = [];
    for (const call of ['initModule', 'finitModuleImage']) {
      for (const how of ['zeroed', 'freed']) for (const size of [64 << 10, 4 << 20]) want.push([call, how, size, ENOSYS]);
    }
    expect(JSON.parse(r.stdout)).toEqual(want);
  });

  it('survive a worker thread that is terminated or exits with calls in flight', { timeout: 60_000 }, async () => {
    // The worker loads the addon itself (its own environment) and keeps the pool busy.
    const source = `
      ${requireLine('kernmod', 'b')}
      const { parentPort, workerData } = require('node:worker_threads');
      for (let i = 0; i < 200; i++) b.deleteModule('kernmod_x', 2048);
      parentPort.postMessage('queued');
      if (workerData === 'exit') process.exit(3);
      else setInterval(() => {}, 1000); // alive until terminated: its calls would otherwise let it end first
    `;
    for (const how of ['terminate', 'exit'] as const) {
      const w = new Worker(source, { eval: true, workerData: how });
      await new Promise((resolve) => w.once('message', resolve));
      const code = how === 'terminate' ? await w.terminate() : await new Promise<number>((resolve) => w.once('exit', resolve));
      expect(code).toBe(how === 'terminate' ? 1 : 3);
    }
    // The main thread's addon still works.
    expect(await b.deleteModule('kernmod_x', 2048)).toBe(ENOSYS);
  });

  it('hold a terminated worker thread open until its call in flight (blocked in a read) has landed, then free it', {
    timeout: 60_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kernmod-fifo-'));
    try {
      const fifo = join(dir, 'fifo');
      expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
      // A read of a FIFO (opened for reading and writing) waits until a byte comes: the call stays on the
      // syscall thread. The descriptor is the main thread's (a worker closes its own when it ends).
      const fd = openSync(fifo, constants.O_RDWR);
      const w = new Worker(
        `${requireLine('kernmod', 'b')}
         b.readOne(${fd});
         require('node:worker_threads').parentPort.postMessage('queued');`,
        { eval: true },
      );
      await new Promise((resolve) => w.once('message', resolve));
      let ended = false;
      const exit = w.terminate().then((code) => ((ended = true), code));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(ended).toBe(false); // still waiting for the call
      writeSync(fd, 'x'); // a byte: the read on the syscall thread returns
      expect(await exit).toBe(1);
      closeSync(fd);
      expect(await b.deleteModule('kernmod_x', 2048)).toBe(ENOSYS);
      // The call that landed after its environment had ended was freed all the same (the count is the
      // process's: the main thread has no call in flight now).
      expect(b.callStats().live).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The addon's syscall thread (native/kernmod.cc, SyscallThread): one call at a time runs there, a call
// made while it is busy goes to the pool, and after a call it waits a short while for the next one
// before it sleeps. callStats() says where each call ran. On this host the module syscalls answer
// ENOSYS at once, so a call that lasts is readOne of a FIFO: it waits until a byte is written.
describe.skipIf(hostHasModules)('native syscall thread', () => {
  const b = loadNativeBinding();
  const delta = (before: ReturnType<typeof b.callStats>) => {
    const now = b.callStats();
    return { thread: now.thread - before.thread, pool: now.pool - before.pool };
  };

  it('runs calls made one after another on the syscall thread, and a burst’s overflow on the pool', async () => {
    let before = b.callStats();
    for (let i = 0; i < 5; i++) expect(await b.deleteModule('kernmod_x', 2048)).toBe(ENOSYS);
    expect(delta(before)).toEqual({ thread: 5, pool: 0 });
    before = b.callStats();
    const rets = await Promise.all(Array.from({ length: 8 }, () => b.deleteModule('kernmod_x', 2048)));
    expect(rets).toEqual(Array.from({ length: 8 }, () => ENOSYS));
    expect(delta(before)).toEqual({ thread: 1, pool: 7 });
  });

  it('does not hold up a call behind one that is blocked on the syscall thread', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kernmod-fifo-'));
    try {
      const fifo = join(dir, 'fifo');
      expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
      const before = b.callStats();
      let blockedDone = false;
      const fd = openSync(fifo, constants.O_RDWR);
      const blocked = b.readOne(fd).then((r) => ((blockedDone = true), r));
      expect(await b.deleteModule('kernmod_x', 2048)).toBe(ENOSYS); // on the pool, while read() waits
      expect(blockedDone).toBe(false);
      expect(delta(before)).toEqual({ thread: 1, pool: 1 });
      writeSync(fd, 'x'); // a byte: the blocked read returns
      expect(await blocked).toBe(1);
      closeSync(fd);
      // And the thread is free again.
      const again = b.callStats();
      expect(await b.deleteModule('kernmod_x', 2048)).toBe(ENOSYS);
      expect(delta(again)).toEqual({ thread: 1, pool: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // A child process per setting, because the cap is read once per process. Ten times: a quick call, a
  // call that lasts ~60 ms (readOne of a FIFO, written to by a timer), a call made as soon as that one has
  // finished, then after 1 ms another; then the slow call again while another call is blocked on the
  // pool. Only what holds whatever the host's timing is asserted: where the calls ran, that a cap of 0
  // never waits, and that nothing waits while a call runs on the pool. (Whether a wait finds the next
  // call depends on the scheduler; the bench reports how often it does.)
  const spinScript = `
    const { mkdtempSync, openSync, rmSync, writeSync, constants } = require('node:fs');
    ${requireLine('kernmod', 'b')}
    const dir = mkdtempSync(require('node:path').join(require('node:os').tmpdir(), 'kernmod-spin-'));
    const fifo = dir + '/fifo', fifo2 = dir + '/fifo2';
    require('node:child_process').spawnSync('mkfifo', [fifo, fifo2]);
    const hits = () => b.callStats().spinHits;
    const pause = () => new Promise((resolve) => setTimeout(resolve, 1));
    // A call that lasts: readOne of a FIFO opened for reading and writing waits until a byte is written.
    const fd = openSync(fifo, constants.O_RDWR), fd2 = openSync(fifo2, constants.O_RDWR);
    const unblock = (f) => writeSync(f, 'x');
    (async () => {
      const seen = { afterSlow: 0, afterSlowWithPoolBusy: 0 };
      for (let i = 0; i < 10; i++) {
        await b.deleteModule('kernmod_x', 2048);
        setTimeout(() => unblock(fd), 60);
        await b.readOne(fd);
        let h = hits();
        await b.deleteModule('kernmod_x', 2048);
        seen.afterSlow += hits() - h;
        await pause();
        await b.deleteModule('kernmod_x', 2048);
        await pause();
        // The slow call again, with a call blocked on the pool meanwhile (a second FIFO).
        const onPool = [b.readOne(fd), b.readOne(fd2)];
        setTimeout(() => unblock(fd), 60);
        await onPool[0];
        h = hits();
        await b.deleteModule('kernmod_x', 2048);
        seen.afterSlowWithPoolBusy += hits() - h;
        unblock(fd2);
        await onPool[1];
        await pause();
      }
      rmSync(dir, { recursive: true });
      process.stdout.write(JSON.stringify({ ...seen, ...b.callStats() }));
    })();
  `;
  type SpinStats = {
    afterSlow: number;
    afterSlowWithPoolBusy: number;
    thread: number;
    pool: number;
    spinHits: number;
    spinCapUs: number;
    live: number;
  };
  const run = (script: string, env: Record<string, string | undefined>, cpus?: string) => {
    const options = { encoding: 'utf8' as const, timeout: 30_000, env: { ...process.env, ...env } };
    const r = cpus
      ? spawnSync('taskset', ['-c', cpus, process.execPath, '-e', script], options)
      : spawnSync(process.execPath, ['-e', script], options);
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as SpinStats;
  };

  it('never waits for the next call while another runs on the pool, nor with KERNMOD_SYSCALL_SPIN_US=0', { timeout: 60_000 }, () => {
    const spinning = run(spinScript, { KERNMOD_SYSCALL_SPIN_US: '20000' });
    expect(spinning).toMatchObject({ thread: 60, pool: 10, afterSlowWithPoolBusy: 0, spinCapUs: 20000, live: 0 });
    const off = run(spinScript, { KERNMOD_SYSCALL_SPIN_US: '0' });
    expect(off).toEqual({ afterSlow: 0, afterSlowWithPoolBusy: 0, thread: 60, pool: 10, spinHits: 0, spinCapUs: 0, live: 0 });
  });

  const haveTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  it.skipIf(!haveTaskset)(
    'waits by default only where the process may use two CPUs or more; the variable opts in anywhere',
    { timeout: 30_000 },
    () => {
      const cap = `${requireLine('kernmod', 'b')} process.stdout.write(JSON.stringify(b.callStats()));`;
      expect(run(cap, { KERNMOD_SYSCALL_SPIN_US: undefined }, '0').spinCapUs).toBe(0);
      expect(run(cap, { KERNMOD_SYSCALL_SPIN_US: '3000' }, '0').spinCapUs).toBe(3000);
      // On every CPU of the host: 4000 µs with two CPUs or more, unless a cgroup's CPU quota says less.
      const spread = run(cap, { KERNMOD_SYSCALL_SPIN_US: undefined }).spinCapUs;
      expect([0, 4000]).toContain(spread);
      if (availableParallelism() < 2) expect(spread).toBe(0);
    },
  );

  it('lets a process end as soon as its last call has landed (the idle thread keeps nothing alive)', { timeout: 60_000 }, () => {
    const r = spawnSync(
      process.execPath,
      ['-e', `${requireLine('kernmod', 'b')} b.deleteModule('kernmod_x', 2048).then((r) => process.stdout.write(String(r)));`],
      { encoding: 'utf8', timeout: 10_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(String(ENOSYS));
  });
});
