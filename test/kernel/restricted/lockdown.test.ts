// Runs in a guest booted with module.sig_enforce=1. The tests run in file order and end by setting
// kernel.modules_disabled=1, which cannot be undone before reboot: keep that test last.
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { preflight } from '../../../lib/linux/preflight.js';
import { kernelBackends, procModule, requireKernel, sysfs, testModules } from '../helpers.js';

requireKernel();
const { modules: m } = testModules();

describe('a kernel booted with module.sig_enforce=1', () => {
  it('has signature enforcement on', () => {
    expect(readFileSync('/proc/cmdline', 'utf8')).toContain('module.sig_enforce=1');
    expect(sysfs('module/parameters/sig_enforce')).toBe('Y');
  });

  it('preflight predicts the refusal of an unsigned module', async () => {
    const r = await preflight(m.hello);
    expect(r.ok).toBe(false);
    expect(r.checks.find((c) => c.id === 'signature')).toMatchObject({ status: 'fail', message: expect.stringMatching(/EKEYREJECTED/) });
  });

  describe.each(kernelBackends())('$label backend', ({ km: make }) => {
    const km = make();
    it('EKEYREJECTED for an unsigned module, with the cause in the hint', async () => {
      await expect(km.loadModule(m.hello)).rejects.toMatchObject({
        code: 'EKEYREJECTED',
        errno: -129,
        syscall: 'finit_module',
        hint: expect.stringMatching(/sig_enforce/),
      });
      expect(() => km.loadModuleSync(readFileSync(m.hello))).toThrow(
        expect.objectContaining({ code: 'EKEYREJECTED', syscall: 'init_module' }),
      );
      expect(procModule('kernmod_hello')).toBeUndefined();
    });

    it('EKEYREJECTED for a module signed by a key the kernel does not trust', async () => {
      await expect(km.loadModule(m.helloSigned)).rejects.toMatchObject({ code: 'EKEYREJECTED' });
    });
  });
});

describe('kernel.modules_disabled=1 (last: it lasts until reboot)', () => {
  it('EPERM for loads and unloads, from both backends', async () => {
    writeFileSync('/proc/sys/kernel/modules_disabled', '1\n');
    expect(readFileSync('/proc/sys/kernel/modules_disabled', 'utf8').trim()).toBe('1');
    expect((await preflight()).checks.find((c) => c.id === 'modules-disabled')).toMatchObject({ status: 'fail' });
    for (const { km: make } of kernelBackends()) {
      const km = make();
      await expect(km.loadModule(m.hello)).rejects.toMatchObject({
        code: 'EPERM',
        errno: -1,
        hint: expect.stringMatching(/modules_disabled/),
      });
      await expect(km.unloadModule('kernmod_hello')).rejects.toMatchObject({ code: 'EPERM', syscall: 'delete_module' });
    }
  });
});
