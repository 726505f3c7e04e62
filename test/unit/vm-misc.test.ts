import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it, expect } from 'vitest';
import { buildRunScript, shellQuote } from '../../vm/guest-script.js';
import { pickNewest612 } from '../../vm/provision.js';
import { qemuArgs } from '../../vm/qemu.js';
import { countResults, summaryLine } from '../../vm/run-kernel-suite.js';
import { bootWithRetries, diedBeforeCommand, type VmRunResult } from '../../vm/run.js';
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

describe('boot retries (a guest that dies before the command starts)', () => {
  // Fake boots stand in for qemu here: the retry policy is what is under test, not a kernel.
  const parent = mkdtempSync(join(tmpdir(), 'kernmod-retry-test-'));
  afterAll(() => rmSync(parent, { recursive: true, force: true }));
  const result = (over: Partial<VmRunResult>): VmRunResult => ({
    exitCode: 0,
    output: '',
    dmesg: '',
    console: '',
    release: '6.12.0-test',
    accel: 'tcg',
    bootMs: 2000,
    durationMs: 3000,
    timedOut: false,
    ioDir: mkdtempSync(join(parent, 'io-')),
    earlyDeaths: [],
    ...over,
  });
  const panic = (): VmRunResult =>
    result({ exitCode: -1, bootMs: -1, console: 'boot line\nOops: int3\nKernel panic - not syncing: Fatal exception\n' });

  it('counts only a death before the command began', () => {
    expect(diedBeforeCommand({ exitCode: -1, bootMs: -1, timedOut: false })).toBe(true);
    // The command had started: its effects may be in the guest's kernel, so no second boot.
    expect(diedBeforeCommand({ exitCode: -1, bootMs: 5000, timedOut: false })).toBe(false);
    expect(diedBeforeCommand({ exitCode: 124, bootMs: -1, timedOut: true })).toBe(false);
    expect(diedBeforeCommand({ exitCode: 1, bootMs: 5000, timedOut: false })).toBe(false);
  });

  it("boots again after an early death, reports it and removes the dead boot's io dir", async () => {
    const boots = [panic(), result({ exitCode: 0 })];
    const logged: string[] = [];
    let n = 0;
    const r = await bootWithRetries(async () => boots[n++]!, { retries: 1, log: (l) => logged.push(l), interrupted: () => false });
    expect(n).toBe(2);
    expect(r.exitCode).toBe(0);
    expect(r.ioDir).toBe(boots[1]!.ioDir);
    expect(r.earlyDeaths).toHaveLength(1);
    expect(r.earlyDeaths[0]).toContain('Kernel panic');
    expect(logged.join('\n')).toMatch(/died during boot.*retry 1 of 1/s);
    expect(existsSync(boots[0]!.ioDir)).toBe(false);
    expect(existsSync(boots[1]!.ioDir)).toBe(true);
  });

  it('gives up after the retries, returning the last death with all of them listed', async () => {
    const boots = [panic(), panic(), panic()];
    let n = 0;
    const r = await bootWithRetries(async () => boots[n++]!, { retries: 1, log: () => {}, interrupted: () => false });
    expect(n).toBe(2);
    expect(r.exitCode).toBe(-1);
    expect(r.earlyDeaths).toHaveLength(1);
    expect(existsSync(r.ioDir)).toBe(true);
  });

  it('does not boot again when the command started, when retries are 0, or when interrupted', async () => {
    for (const [first, retries, interrupted] of [
      [result({ exitCode: -1, bootMs: 4000 }), 1, false],
      [panic(), 0, false],
      [panic(), 1, true],
    ] as const) {
      let n = 0;
      const r = await bootWithRetries(async () => (n++, first), { retries, log: () => {}, interrupted: () => interrupted });
      expect(n).toBe(1);
      expect(r.earlyDeaths).toEqual([]);
    }
  });
});
