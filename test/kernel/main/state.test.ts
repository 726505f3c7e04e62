// What kernmod reads back from the real kernel: listModules/getModule against /proc/modules and sysfs,
// and `kernmod lsmod` byte for byte against kmod's lsmod in the same guest.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatLsmod } from '../../../lib/cli/lsmod.js';
import { getModule, isLoaded, listModules, listModulesSync, moduleState } from '../../../lib/linux/state.js';
import { kernelBackends, requireKernel, testModules, unloadOurs } from '../helpers.js';

requireKernel();
const { modules: m } = testModules();
const km = kernelBackends()[0]!.km();

describe('kernel state on a real kernel', () => {
  beforeAll(async () => {
    await km.loadModule(m.exporter);
    await km.loadModule(m.importer);
    await km.loadModule(m.params, { params: { p_charp: 'read back', p_array: [9, 8] } });
  });
  afterAll(() => unloadOurs(km));

  it('listModules joins /proc/modules and sysfs: refcnt, holders, initstate, taint, parameters', async () => {
    const list = await listModules();
    const exp = list.find((x) => x.name === 'kernmod_exporter');
    expect(exp).toMatchObject({ refcnt: 1, holders: ['kernmod_importer'], initstate: 'live', state: 'Live' });
    expect(exp!.taint).toContain('O');
    const params = list.find((x) => x.name === 'kernmod_params');
    expect(params?.parameters).toMatchObject({ p_charp: 'read back', p_array: '9,8', p_int: '-1' });
    expect(list.map((x) => x.name)).toEqual(listModulesSync().map((x) => x.name));
  });

  it('getModule, moduleState and isLoaded agree with the kernel', async () => {
    expect((await getModule('kernmod-importer'))?.refcnt).toBe(0);
    expect(moduleState('kernmod_params')).toBe('live');
    expect(isLoaded('kernmod_hello')).toBe(false);
    expect(moduleState('kernmod_hello')).toBe('absent');
  });

  it("`kernmod lsmod` prints exactly what kmod's lsmod prints", async () => {
    const kmod = execFileSync('lsmod', { encoding: 'utf8' });
    const ours = formatLsmod((await listModules({ parameters: false })).filter((x) => x.initstate !== undefined));
    expect(ours).toBe(kmod);
    expect(kmod).toMatch(/^kernmod_exporter +\d+ +1 kernmod_importer$/m);
  });
});
