// One API type on Linux and NetBSD (#20): the top-level loadModule/unloadModule (and Sync twins) answer
// LoadResult | NetbsdLoadResult (UnloadResult | NetbsdUnloadResult), and one check of `platform`
// narrows them. The expectTypeOf lines are checked by `npm run typecheck` (tsc on the tests); the
// calls show the field is there at run time, from the Linux and the NetBSD fake kernels.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type * as kernmod from '../../lib/index.js';
import type { LoadResult, NetbsdLoadResult, NetbsdUnloadResult, UnloadResult } from '../../lib/index.js';
import { createFakeBackend, FakeKernel } from '../../lib/backend/fake.js';
import { bind } from '../../lib/kernmod.js';
import { createFakeNetbsdBackend, FakeNetbsdKernel } from '../../lib/netbsd/fake.js';
import { bind as bindNetbsd } from '../../lib/netbsd/index.js';

type TopLoad = Awaited<ReturnType<typeof kernmod.loadModule>>;
type TopUnload = Awaited<ReturnType<typeof kernmod.unloadModule>>;

describe('the top-level result types', () => {
  it('are unions of the two systems, narrowed by one check of platform', () => {
    expectTypeOf<TopLoad>().toEqualTypeOf<LoadResult | NetbsdLoadResult>();
    expectTypeOf<ReturnType<typeof kernmod.loadModuleSync>>().toEqualTypeOf<TopLoad>();
    expectTypeOf<TopUnload>().toEqualTypeOf<UnloadResult | NetbsdUnloadResult>();
    expectTypeOf<ReturnType<typeof kernmod.unloadModuleSync>>().toEqualTypeOf<TopUnload>();
    expectTypeOf<TopLoad['platform']>().toEqualTypeOf<'linux' | 'netbsd'>();

    // The fields both systems have need no narrowing.
    expectTypeOf<TopLoad['module']>().toEqualTypeOf<string>();
    expectTypeOf<TopLoad['backend']>().toEqualTypeOf<string>();
    expectTypeOf<TopLoad['flags']>().toEqualTypeOf<number>();
    expectTypeOf<TopUnload['module']>().toEqualTypeOf<string>();

    // Linux's own fields after `platform === 'linux'`, NetBSD's after `platform === 'netbsd'`.
    const linuxOnly = (r: TopLoad) => (r.platform === 'linux' ? r.kernelLog : undefined);
    expectTypeOf(linuxOnly).returns.toEqualTypeOf<kernmod.KernelLogEntry[] | undefined>();
    const netbsdOnly = (r: TopLoad) => (r.platform === 'netbsd' ? r.moduleFrom : undefined);
    expectTypeOf(netbsdOnly).returns.toEqualTypeOf<'kernel' | 'argument' | undefined>();
    const attempts = (r: TopUnload) => (r.platform === 'linux' ? r.attempts : 1);
    expectTypeOf(attempts).returns.toEqualTypeOf<number>();
    // @ts-expect-error without the check, kernelLog is not on NetBSD's result
    const unnarrowed = (r: TopLoad) => r.kernelLog;
    void unnarrowed;
  });

  it('carry platform at run time: linux from the Linux calls, netbsd from modctl', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kernmod-types-'));
    const ko = join(dir, 'demo.ko');
    writeFileSync(ko, FakeKernel.image('demo', []));
    const km = bind(createFakeBackend(new FakeKernel()), { sysRoot: dir });
    expect(await km.loadModule(ko, { kernelLog: false })).toMatchObject({ platform: 'linux', module: 'demo' });
    expect(km.unloadModuleSync('demo', { kernelLog: false })).toMatchObject({ platform: 'linux', module: 'demo' });

    const kmod = join(dir, 'mymod.kmod');
    writeFileSync(kmod, FakeNetbsdKernel.image({ name: 'mymod' }));
    const nb = bindNetbsd(createFakeNetbsdBackend(new FakeNetbsdKernel({ modulePath: dir })));
    expect(await nb.loadModule(kmod)).toMatchObject({ platform: 'netbsd', module: 'mymod' });
    expect(nb.unloadModuleSync('mymod')).toMatchObject({ platform: 'netbsd', module: 'mymod' });
  });
});
