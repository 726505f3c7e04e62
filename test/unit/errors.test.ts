import { describe, expect, it } from 'vitest';
import { loadNativeBinding } from '../../lib/backend/native.js';
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

  it("agrees with the native addon's table from the C library, where the addon is built", () => {
    const table = loadNativeBinding().errnoTable();
    for (const [n, code, description] of LINUX_GENERIC_ERRNO) expect(table[String(n)]).toEqual([code, description]);
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
