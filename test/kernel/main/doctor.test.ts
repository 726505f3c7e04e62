// preflight() in a real kernel: what it predicts must match what the load then does.
import { afterAll, describe, expect, it } from 'vitest';
import { preflight } from '../../../lib/linux/preflight.js';
import { kernelBackends, requireKernel, testModules, unloadOurs } from '../helpers.js';

requireKernel();
const { modules: m } = testModules();
const km = kernelBackends()[0]!.km();

describe('preflight on a real kernel', () => {
  afterAll(() => unloadOurs(km));
  const status = (r: Awaited<ReturnType<typeof preflight>>) => Object.fromEntries(r.checks.map((c) => [c.id, c.status]));

  it('passes the system checks as root in the guest', async () => {
    const r = await preflight();
    expect(status(r)).toMatchObject({
      'module-support': 'pass',
      'cap-sys-module': 'pass',
      'modules-disabled': 'pass',
      'sig-enforce': 'pass',
    });
    expect(r.ok).toBe(true);
  });

  it('checks the release word of vermagic (the flags part, as in the forged module, is left to the kernel)', async () => {
    expect(status(await preflight(m.forged))).toMatchObject({ vermagic: 'pass' });
  });

  it('predicts the importer fails without its exporter, and the load agrees', async () => {
    const r = await preflight(m.importer);
    expect(status(r)).toMatchObject({ depends: 'fail', loaded: 'pass' });
    expect(r.ok).toBe(false);
    await expect(km.loadModule(m.importer)).rejects.toMatchObject({ code: 'ENOENT' });
    await km.loadModule(m.exporter);
    expect((await preflight(m.importer)).ok).toBe(true);
    await km.loadModule(m.importer);
    expect(status(await preflight(m.importer))).toMatchObject({ loaded: 'fail' });
  });

  it('flags parameter names the module does not declare', async () => {
    const r = await preflight(m.params, { params: { p_int: 1, p_nosuch: 2 } });
    expect(r.checks.find((c) => c.id === 'params')).toMatchObject({ status: 'warn', message: expect.stringMatching(/p_nosuch/) });
  });
});
