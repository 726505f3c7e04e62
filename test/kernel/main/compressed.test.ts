// Compressed modules in a real kernel. Debian's 6.12 decompresses xz itself (/sys/module/compression);
// its 6.1 has no in-kernel decompression, so there everything is decompressed in user space.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { kernelBackends, kmsgMark, kmsgSince, procModule, requireKernel, testModules, unloadOurs } from '../helpers.js';

requireKernel();
const { modules: m } = testModules();
const kernelFormat = existsSync('/sys/module/compression') ? readFileSync('/sys/module/compression', 'utf8').trim() : null;

describe.each(kernelBackends())(
  `compressed modules (kernel decompresses: ${kernelFormat ?? 'nothing'}): $label backend`,
  ({ km: make }) => {
    const km = make();
    afterEach(() => unloadOurs(km));

    it.each([
      ['helloXz', 'xz'],
      ['helloGz', 'gzip'],
      ['helloZst', 'zstd'],
    ] as const)('%s loads; the kernel decompresses only its own format', async (key, format) => {
      const r = await km.loadModule(m[key]);
      expect(procModule('kernmod_hello')?.state).toBe('Live');
      if (format === kernelFormat) {
        expect(r).toMatchObject({ syscall: 'finit_module', compression: { format, decompressedBy: 'kernel' } });
        expect(r.flags & 4).toBe(4); // MODULE_INIT_COMPRESSED_FILE
      } else {
        expect(r).toMatchObject({ syscall: 'init_module', compression: { format, decompressedBy: 'user' } });
      }
    });

    it('the sync form handles compressed files the same way', () => {
      const r = km.loadModuleSync(m.helloZst, { params: {} });
      expect(r.compression).toEqual({ format: 'zstd', decompressedBy: kernelFormat === 'zstd' ? 'kernel' : 'user' });
      expect(procModule('kernmod_hello')?.state).toBe('Live');
    });

    it('a plain-xz module (CRC64, 8 MiB dictionary) still loads: user space decodes what the kernel would refuse', async () => {
      kmsgMark();
      const r = await km.loadModule(m.helloPlainXz);
      expect(procModule('kernmod_hello')?.state).toBe('Live');
      expect(r).toMatchObject({ syscall: 'init_module', compression: { format: 'xz', decompressedBy: 'user' } });
      if (kernelFormat === 'xz') {
        expect(r).toMatchObject({ fallback: 'kernel-cannot-decompress', fallbackReason: expect.stringMatching(/CRC64/) });
        expect(kmsgSince().join('\n')).not.toMatch(/decompression failed/);
      }
    });

    it.skipIf(kernelFormat !== 'xz')(
      'issue #17: a kernel-decompressed module whose init fails with EINVAL runs its init once',
      async () => {
        const path = join(mkdtempSync('/tmp/kernmod-fail-'), 'kernmod_fail.ko.xz');
        writeFileSync(path, execFileSync('xz', ['--check=crc32', '--lzma2=dict=1MiB', '-c', m.fail]));
        kmsgMark();
        await expect(km.loadModule(path, { params: { err: 22 } })).rejects.toMatchObject({
          code: 'EINVAL',
          errno: -22,
          syscall: 'finit_module',
          path,
        });
        expect(
          kmsgSince()
            .join('\n')
            .match(/kernmod_fail: init err=22/g),
        ).toHaveLength(1);
        expect(procModule('kernmod_fail')).toBeUndefined();
        const r = await km.loadModule(path, { params: { err: 0 } });
        expect(r).toMatchObject({ syscall: 'finit_module', compression: { format: 'xz', decompressedBy: 'kernel' } });
        expect(procModule('kernmod_fail')?.state).toBe('Live');
      },
    );

    it.skipIf(kernelFormat !== 'xz')(
      "with decompress: 'kernel' the kernel's EINVAL is reported, with the xz settings in the hint",
      async () => {
        await expect(km.loadModule(m.helloPlainXz, { decompress: 'kernel' })).rejects.toMatchObject({
          code: 'EINVAL',
          syscall: 'finit_module',
          hint: expect.stringMatching(/--check=crc32|decompression failed/), // the errno's hint, or the kernel log's
        });
        expect(procModule('kernmod_hello')).toBeUndefined();
      },
    );

    it("decompress: 'user' never hands the kernel a compressed file", async () => {
      const r = await km.loadModule(m.helloXz, { decompress: 'user' });
      expect(r).toMatchObject({ syscall: 'init_module', compression: { format: 'xz', decompressedBy: 'user' } });
    });

    it('compressed bytes (a Buffer) are decompressed in user space', async () => {
      const r = await km.loadModule(readFileSync(m.helloGz));
      expect(r).toMatchObject({ syscall: 'init_module', compression: { format: 'gzip', decompressedBy: 'user' } });
    });

    it('ignoreVermagic on a compressed module goes through an anonymous file (memfd) so the flag reaches the kernel', async () => {
      const r = await km.loadModule(m.helloGz, { ignoreVermagic: true });
      expect(r).toMatchObject({ syscall: 'finit_module', fallback: 'anonymous-file', flags: 2 });
      expect(procModule('kernmod_hello')?.taints).toContain('F');
    });
  },
);
