import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { buildRunScript, shellQuote } from '../../vm/guest-script.js';
import { pickNewest612 } from '../../vm/provision.js';
import { qemuArgs } from '../../vm/qemu.js';
import { countResults, summaryLine } from '../../vm/run-kernel-suite.js';
import { isStaticElf } from '../../vm/tools.js';

describe('guest run script', () => {
  it('passes arguments, cwd and environment through sh unchanged', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vm-script-'));
    try {
      const weird = [`it's`, 'a b', '$HOME', '`id`', '"q"', '\\', '', 'ü\nnewline', '*'];
      const script = buildRunScript({
        command: ['sh', '-c', 'printf "%s|" "$@"; printf "%s|%s|%s" "$PWD" "$X" "$Y"', 'argv0', ...weird],
        cwd: dir,
        env: { X: `x'y"z $(echo no)`, Y: '' },
      });
      writeFileSync(join(dir, 'run.sh'), script);
      const out = execFileSync('/usr/bin/env', ['-i', '/bin/sh', join(dir, 'run.sh')], { encoding: 'utf8' });
      expect(out).toBe(weird.map((w) => `${w}|`).join('') + `${dir}|x'y"z $(echo no)|`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects bad variable names and empty commands', () => {
    expect(() => buildRunScript({ command: ['true'], cwd: '/', env: { 'A-B': '1' } })).toThrow(/invalid environment variable/);
    expect(() => buildRunScript({ command: [], cwd: '/', env: {} })).toThrow(/empty command/);
    expect(shellQuote(`a'b`)).toBe(`'a'\\''b'`);
  });
});

describe('qemuArgs', () => {
  const base = { vmlinuz: '/boot/vmlinuz-x', initrd: '/c/i.cpio', cmdline: 'console=ttyS0 quiet', memoryMiB: 2048, cpus: 2 };
  it('builds a TCG command line with the shares', () => {
    const a = qemuArgs({
      ...base,
      accel: 'tcg',
      shares: [
        { hostPath: '/', tag: 'hostroot', readonly: true },
        { hostPath: '/tmp/io', tag: 'kernmodio', readonly: false },
      ],
    });
    expect(a.join(' ')).toContain('-accel tcg -cpu max -m 2048 -smp 2');
    expect(a).toContain('-no-reboot');
    expect(a[a.indexOf('-append') + 1]).toBe('console=ttyS0 quiet');
    expect(a).toContain('local,path=/,mount_tag=hostroot,security_model=none,multidevs=remap,readonly=on');
    expect(a).toContain('local,path=/tmp/io,mount_tag=kernmodio,security_model=none,multidevs=remap');
  });
  it('uses the host CPU under KVM and refuses commas in share paths', () => {
    expect(qemuArgs({ ...base, accel: 'kvm', shares: [] }).join(' ')).toContain('-accel kvm -cpu host');
    expect(() => qemuArgs({ ...base, accel: 'tcg', shares: [{ hostPath: '/a,b', tag: 't', readonly: true }] })).toThrow(/commas/);
  });
});

describe('provisioning helpers', () => {
  it('picks the newest 6.12 image from apt-cache search output', () => {
    const out = [
      'linux-image-6.12.9+deb12-amd64-unsigned - Linux 6.12 for 64-bit PCs',
      'linux-image-6.12.117+deb12-amd64-unsigned - Linux 6.12 for 64-bit PCs',
      'linux-image-6.12.38+deb12-amd64-unsigned - Linux 6.12 for 64-bit PCs',
      'linux-image-6.12.117+deb12-cloud-amd64-unsigned - cloud',
    ].join('\n');
    expect(pickNewest612(out)).toBe('6.12.117+deb12-amd64');
    expect(pickNewest612('')).toBeNull();
  });

  it('tells static from dynamic ELF executables', () => {
    const elf = (interp: boolean) => {
      const b = Buffer.alloc(0x200);
      b.writeUInt32BE(0x7f454c46, 0);
      b[4] = 2; // 64-bit
      b[5] = 1; // little endian
      b.writeBigUInt64LE(0x40n, 0x20); // e_phoff
      b.writeUInt16LE(56, 0x36); // e_phentsize
      b.writeUInt16LE(2, 0x38); // e_phnum
      b.writeUInt32LE(6, 0x40); // PT_PHDR
      b.writeUInt32LE(interp ? 3 : 1, 0x40 + 56); // PT_INTERP or PT_LOAD
      return b;
    };
    expect(isStaticElf(elf(false))).toBe(true);
    expect(isStaticElf(elf(true))).toBe(false);
    expect(isStaticElf(Buffer.from('#!/bin/sh\n'))).toBe(false);
  });
});

describe('kernel suite result counting', () => {
  it('counts failed tests plus files that failed to load', () => {
    const c = countResults({
      numPassedTests: 10,
      numFailedTests: 2,
      numPendingTests: 1,
      numTodoTests: 1,
      testResults: [
        { name: 'a.test.ts', status: 'failed', assertionResults: [{ status: 'failed' }, { status: 'failed' }] },
        { name: 'b.test.ts', status: 'failed', assertionResults: [] },
        { name: 'c.test.ts', status: 'passed', assertionResults: [{ status: 'passed' }] },
      ],
    });
    expect(c).toEqual({ passed: 10, failed: 3, skipped: 2, brokenFiles: ['b.test.ts'] });
    expect(summaryLine(c)).toBe('10 passed, 3 failed, 2 skipped');
    expect(summaryLine({ passed: 5, failed: 0, skipped: 0 })).toBe('5 passed, 0 failed');
  });
});
