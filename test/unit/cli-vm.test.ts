// `kernmod vm` as an installed package meets it (issue #20): its cache in the user's cache directory
// (a checkout keeps its own .cache, which the kernel suite and CI use), hints naming commands that exist.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { vmCacheDirFor } from '../../vm/paths.js';
import { resolveKernel } from '../../vm/kernels.js';

describe('kernmod vm cache directory', () => {
  const installed = mkdtempSync(join(tmpdir(), 'kernmod-installed-')); // no .git: an installed package
  const checkout = mkdtempSync(join(tmpdir(), 'kernmod-checkout-'));
  mkdirSync(join(checkout, '.git'));

  it('an installed package caches in $XDG_CACHE_HOME, else ~/.cache, never beside itself', () => {
    expect(vmCacheDirFor(installed, { XDG_CACHE_HOME: '/x/cache' }, '/home/u')).toBe('/x/cache/kernmod/vm');
    expect(vmCacheDirFor(installed, {}, '/home/u')).toBe('/home/u/.cache/kernmod/vm');
    expect(vmCacheDirFor(installed, { XDG_CACHE_HOME: 'relative' }, '/home/u')).toBe('/home/u/.cache/kernmod/vm');
  });

  it('a checkout keeps its .cache; KERNMOD_VM_CACHE wins everywhere', () => {
    expect(vmCacheDirFor(checkout, { XDG_CACHE_HOME: '/x/cache' }, '/home/u')).toBe(join(checkout, '.cache', 'vm'));
    expect(vmCacheDirFor(installed, { KERNMOD_VM_CACHE: '/o' }, '/home/u')).toBe('/o');
    expect(vmCacheDirFor(checkout, { KERNMOD_VM_CACHE: '/o' }, '/home/u')).toBe('/o');
  });
});

describe('kernmod vm hints', () => {
  it('name a kernmod command, not a file of the source tree', () => {
    const empty = mkdtempSync(join(tmpdir(), 'kernmod-nokernels-'));
    const layout = { bootDir: join(empty, 'boot'), modulesRoot: join(empty, 'modules') };
    mkdirSync(layout.bootDir);
    mkdirSync(layout.modulesRoot);
    let message = '';
    try {
      resolveKernel('6.6', layout);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('`kernmod vm --provision --kernel 6.6`');
    expect(message).not.toMatch(/dist\//);
  });
});
