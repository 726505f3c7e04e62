import { describe, expect, it } from 'vitest';
import { constants } from 'node:os';
import { errnoInfo, errnoNumber } from '../../lib/errno.js';
import { KernmodError, hintFor, systemError } from '../../lib/errors.js';
import { LINUX_GENERIC_ERRNO } from '../../lib/linux/errno-table.js';

describe('errno table', () => {
  it('names the codes libuv lacks', () => {
    expect(errnoInfo(-8).code).toBe('ENOEXEC');
    expect(errnoInfo(74).code).toBe('EBADMSG');
    expect(errnoInfo(126).code).toBe('ENOKEY');
    expect(errnoInfo(129)).toEqual({ errno: 129, code: 'EKEYREJECTED', description: 'Key was rejected by service' });
    expect(errnoNumber('EWOULDBLOCK')).toBe(11);
    expect(errnoInfo(9999).code).toBe('E9999');
  });

  // Every backend reads the kernel's answers with this one table, whatever C library the addon was built against.
  it.skipIf(process.platform !== 'linux')("numbers each code as this Linux host's C library does", () => {
    const host: Record<string, number> = constants.errno;
    let compared = 0;
    for (const [n, code] of LINUX_GENERIC_ERRNO) {
      if (!(code in host)) continue;
      expect(host[code], code).toBe(n);
      compared++;
    }
    expect(compared).toBeGreaterThan(70);
  });
});

describe('KernmodError', () => {
  it("is shaped like Node's SystemError, plus module, phase and hint", () => {
    const e = systemError(-17, 'finit_module', { path: '/m/x.ko', module: 'x' });
    expect(e).toBeInstanceOf(Error);
    expect(e).toBeInstanceOf(KernmodError);
    expect(e).toMatchObject({
      name: 'KernmodError',
      code: 'EEXIST',
      errno: -17,
      syscall: 'finit_module',
      path: '/m/x.ko',
      module: 'x',
      phase: 'load',
    });
    expect(e.message).toBe("EEXIST: file exists, finit_module '/m/x.ko'");
    expect(JSON.parse(JSON.stringify(e))).toEqual({
      name: 'KernmodError',
      code: 'EEXIST',
      message: "EEXIST: file exists, finit_module '/m/x.ko'",
      errno: -17,
      syscall: 'finit_module',
      path: '/m/x.ko',
      module: 'x',
      phase: 'load',
      hint: e.hint,
    });
  });

  it.each([
    ['ENOEXEC', 'finit_module', /vermagic/],
    ['ENOENT', 'init_module', /unknown symbol/],
    ['EPERM', 'finit_module', /CAP_SYS_MODULE.*modules_disabled.*lockdown/],
    ['EKEYREJECTED', 'finit_module', /sig_enforce/],
    ['EEXIST', 'finit_module', /already loaded/],
    ['EBUSY', 'finit_module', /same time/],
    ['EAGAIN', 'delete_module', /in use/],
    ['EWOULDBLOCK', 'delete_module', /in use/],
    ['EBUSY', 'delete_module', /permanent/],
    ['ENOENT', 'delete_module', /no module of this name/],
    ['ENOSYS', 'finit_module', /without loadable module support/],
    ['EINVAL', 'finit_module', /parameter value/],
  ] as const)('hint for %s on %s', (code, syscall, re) => {
    expect(hintFor(code, syscall)).toMatch(re);
  });

  it('EINVAL on a compressed finit_module load points at the xz settings', () => {
    expect(hintFor('EINVAL', 'finit_module', 4)).toMatch(/crc32/);
  });
});
