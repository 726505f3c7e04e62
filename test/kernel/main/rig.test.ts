// The VM rig itself (vm/): the suite runs as root in a real guest kernel that booted from our initramfs,
// with the project tree visible and the test modules built for this very kernel.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { describe, expect, it } from 'vitest';
import { testModules } from '../helpers.js';

describe('vm rig', () => {
  it('runs inside the guest as root, on the kernel it was asked for', () => {
    expect(process.env['KERNMOD_VM']).toBe('1');
    expect(process.getuid?.()).toBe(0);
    expect(release()).toBe(process.env['KERNMOD_VM_KERNEL']);
  });

  it("loaded the kernel's own 9p modules (derived from its modules.dep) to mount the host root", () => {
    expect(readFileSync('/proc/modules', 'utf8')).toMatch(/^9p /m);
  });

  it('has test modules built against this kernel', () => {
    expect(testModules().release).toBe(release());
  });
});
