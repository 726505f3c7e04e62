// Installing what the rig needs on a Debian (bookworm) machine: qemu, a static busybox, kmod,
// decompressors, openssl, and the guest kernels with their headers. Only installs when something is
// missing and we are root with apt; otherwise fails with a message naming the packages.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { compareReleases, resolveKernel } from './kernels.js';
import { missingTools, which } from './tools.js';

const execFileP = promisify(execFile);

export interface ProvisionOptions {
  /** kernel specs the caller wants to boot ('6.1', '6.12', or paths, which cannot be installed) */
  kernels: string[];
  /** install missing packages (default true); false only reports */
  install?: boolean;
  log?: (s: string) => void;
}

/** Newest "<version>" among linux-image-<version>-unsigned names from apt-cache search output. */
export function pickNewest612(aptCacheOutput: string): string | null {
  const versions: string[] = [];
  for (const line of aptCacheOutput.split('\n')) {
    const m = /^linux-image-(6\.12\.\d+\+deb\d+-amd64)-unsigned\s/.exec(line + ' ');
    if (m?.[1]) versions.push(m[1]);
  }
  versions.sort(compareReleases);
  return versions.at(-1) ?? null;
}

const APT_ENV = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** True when there are no package lists or the newest is older than a day. */
function aptListsStale(): boolean {
  const dir = '/var/lib/apt/lists';
  try {
    const lists = readdirSync(dir).filter((n) => n.includes('_Packages'));
    if (lists.length === 0) return true;
    const newest = Math.max(...lists.map((n) => statSync(`${dir}/${n}`).mtimeMs));
    return Date.now() - newest > 24 * 3600_000;
  } catch {
    return true;
  }
}

function runLogged(cmd: string, args: string[], log: (s: string) => void): Promise<void> {
  log(`$ ${cmd} ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: APT_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    const forward = (d: Buffer) => {
      for (const line of d.toString('utf8').split('\n')) if (line.trim()) log(`  ${line}`);
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} failed with exit code ${code}`))));
  });
}

/** Packages providing a kernel spec; null if it is already installed (with headers). */
async function kernelPackages(spec: string): Promise<{ packages: string[]; why: string } | null> {
  let resolveError: Error;
  try {
    const k = resolveKernel(spec);
    if (k.headersDir) return null;
    return { packages: [`linux-headers-${k.release}`], why: `headers for ${k.release}` };
  } catch (e) {
    resolveError = e as Error;
  }
  if (spec === '6.1') return { packages: ['linux-image-amd64', 'linux-headers-amd64'], why: 'kernel 6.1 (the bookworm default)' };
  if (spec === '6.12') {
    if (!which('apt-cache')) throw new Error('kernel 6.12 is not installed and there is no apt-cache to find its package');
    const { stdout } = await execFileP('apt-cache', ['search', '--names-only', '^linux-image-6\\.12\\.[0-9]+\\+deb[0-9]+-amd64-unsigned$']);
    const v = pickNewest612(stdout);
    if (!v)
      throw new Error(
        'kernel 6.12 is not installed and apt knows no linux-image-6.12.*+deb*-amd64-unsigned package ' +
          '(apt-get update? bookworm-security enabled?)',
      );
    return { packages: [`linux-image-${v}-unsigned`, `linux-headers-${v}`], why: `kernel 6.12 (${v})` };
  }
  throw new Error(`cannot provision kernel "${spec}": ${resolveError.message}`);
}

function kernelInstalled(spec: string): boolean {
  try {
    return resolveKernel(spec).headersDir !== null;
  } catch {
    return false;
  }
}

export async function provision(opts: ProvisionOptions): Promise<void> {
  const log = opts.log ?? ((s: string) => console.error(s));
  const install = opts.install ?? true;
  const canApt = isRoot() && which('apt-get') !== null;
  const willInstall = install && canApt;

  const tools = missingTools();
  const missingKernels = opts.kernels.filter((k) => !kernelInstalled(k));
  if (tools.length === 0 && missingKernels.length === 0) {
    log('provision: everything needed is installed');
    return;
  }
  // Package names of kernels come from apt-cache, so refresh the lists first if they are empty/old.
  if (willInstall && aptListsStale()) await runLogged('apt-get', ['update'], log);

  const packages = new Set(tools.map((t) => t.package));
  const reasons = tools.map((t) => `${t.program} (${t.package}: ${t.why})`);
  for (const spec of missingKernels) {
    const need = await kernelPackages(spec).catch((e: Error) => {
      throw new Error(`provision: ${e.message}`);
    });
    if (need) {
      need.packages.forEach((p) => packages.add(p));
      reasons.push(need.why);
    }
  }
  const list = [...packages];
  if (!willInstall) {
    const how = !install ? '' : !isRoot() ? ' (not root, so not installing)' : ' (no apt-get, so not installing)';
    throw new Error(`kernmod vm: missing ${reasons.join('; ')}${how}. Install: apt-get install --no-install-recommends ${list.join(' ')}`);
  }
  log(`provision: installing ${list.join(' ')} for ${reasons.join('; ')}`);
  await runLogged('apt-get', ['install', '-y', '--no-install-recommends', ...list], log);

  // Verify rather than trust apt: a kernel package without /boot or modules.dep is useless to us.
  const still = missingTools();
  if (still.length) throw new Error(`provision: still missing after install: ${still.map((t) => t.program).join(', ')}`);
  for (const spec of opts.kernels) {
    const k = resolveKernel(spec);
    log(`provision: kernel ${spec} -> ${k.release}${k.headersDir ? '' : ' (no headers!)'}`);
  }
  if (!existsSync('/dev/kvm')) log('provision: note: no /dev/kvm, guests will run under TCG (slower)');
}
