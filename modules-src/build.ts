/**
 * Builds kernmod's own GPL test modules (the C files next to this file) against the
 * headers of one installed kernel release, then derives the variants the tests need:
 * compressed copies, a signed copy and a copy with a forged vermagic.
 *
 *   node dist/modules-src/build.js [--force] [--out <dir>] <release|/lib/modules/<release>>...
 *   node dist/modules-src/build.js --all     (every /lib/modules/* that has a build/ link)
 *
 * Output goes to <projectRoot>/.cache/test-modules/<release>/ (see README.md for the layout).
 * Node 20 builtins only; external tools: make, the kernel's gcc, xz, zstd, openssl and the
 * headers' scripts/sign-file.
 */
import { execFile } from 'node:child_process';
import { constants as fsc, existsSync, realpathSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

/** Kernel names of the test modules (also their .ko basenames). */
export const moduleNames = [
  'kernmod_hello',
  'kernmod_params',
  'kernmod_fail',
  'kernmod_exporter',
  'kernmod_importer',
  'kernmod_slow',
  'kernmod_forged',
] as const;
export type ModuleName = (typeof moduleNames)[number];

/** CN of the throwaway signing certificate; modinfo shows it as `signer:`. */
export const SIGNER_CN = 'kernmod throwaway test key';

export interface TestModuleSet {
  release: string;
  /** ISO 8601 time of the build. */
  builtAt: string;
  /** Real path of /lib/modules/<release>/build. */
  headersDir: string;
  /** Absolute paths. */
  modules: {
    hello: string;
    params: string;
    fail: string;
    exporter: string;
    importer: string;
    slow: string;
    /** vermagic flag `modversions` forged to `modversionX`. */
    forged: string;
    /** gzip -9. */
    helloGz: string;
    /** zstd, default level. */
    helloZst: string;
    /** xz as kbuild does it (CRC32, 1 MiB dictionary): the in-kernel decoder accepts it. */
    helloXz: string;
    /** plain xz (CRC64, 8 MiB dictionary): the in-kernel decoder rejects it (EINVAL). */
    helloPlainXz: string;
    /** Signed (PKCS#7, sha256) with the throwaway key, which no kernel trusts. */
    helloSigned: string;
  };
  /** PEM certificate of the throwaway signing key. */
  signingCert: string;
  /** PEM private key of the throwaway signing key. */
  signingKey: string;
  /** The certificate's CN (= SIGNER_CN). */
  signer: string;
}

export interface BuildOptions {
  /** A release name (`6.1.0-56-amd64`) or a path to its modules dir (`/lib/modules/6.1.0-56-amd64`). */
  release: string;
  /** Parent of the per-release output dirs; default <projectRoot>/.cache/test-modules. */
  outRoot?: string;
  /** Rebuild even when the manifest is up to date. */
  force?: boolean;
  log?: (s: string) => void;
}

const here = path.dirname(fileURLToPath(import.meta.url));

/** Nearest ancestor of this file that holds package.json. */
function findProjectRoot(): string {
  for (let dir = here; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${here}`);
  }
}

/** The C sources: next to this file when run from source, else <projectRoot>/modules-src. */
function findSourceDir(): string {
  if (existsSync(path.join(here, 'Kbuild'))) return here;
  const dir = path.join(findProjectRoot(), 'modules-src');
  if (!existsSync(path.join(dir, 'Kbuild'))) throw new Error(`test module sources not found in ${dir}`);
  return dir;
}

function resolveRelease(arg: string): { release: string; modulesDir: string } {
  const modulesDir = arg.includes('/') ? path.resolve(arg) : path.join('/lib/modules', arg);
  // Not include/config/kernel.release: Debian's 6.1 headers put "6.1.192" there.
  return { release: path.basename(modulesDir), modulesDir };
}

/** Absolute path of `name` on PATH, or undefined. */
async function which(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      await fs.access(p, fsc.X_OK);
      return p;
    } catch {
      /* keep looking */
    }
  }
  return undefined;
}

function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { ...opts, encoding: 'buffer', maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const out = (stderr.toString() || stdout.toString()).trim().split('\n').slice(-30).join('\n');
      reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message.split('\n')[0]}\n${out}`));
    });
  });
}

interface Tools {
  headersDir: string;
  make: string;
  xz: string;
  zstd: string;
  openssl: string;
  signFile: string;
}

/** Finds everything the build needs and reports all that is missing in one error. */
async function findTools(release: string, modulesDir: string): Promise<Tools> {
  const missing: string[] = [];
  let headersDir = '';
  try {
    headersDir = realpathSync(path.join(modulesDir, 'build'));
    if (!existsSync(path.join(headersDir, 'Makefile'))) throw new Error('no Makefile');
  } catch {
    missing.push(`kernel headers for ${release}: ${modulesDir}/build missing or broken (Debian: linux-headers-${release})`);
  }
  const need = async (bin: string, pkg: string): Promise<string> => {
    const p = await which(bin);
    if (!p) missing.push(`${bin} not on PATH (Debian: ${pkg})`);
    return p ?? '';
  };
  const make = await need('make', 'make');
  const xz = await need('xz', 'xz-utils');
  const zstd = await need('zstd', 'zstd');
  const openssl = await need('openssl', 'openssl');

  let signFile = '';
  if (headersDir) {
    // The compiler kbuild will call: Debian's headers record it (e.g. "x86_64-linux-gnu-gcc-12")
    // as the first word of CONFIG_CC_VERSION_TEXT.
    const config = await fs.readFile(path.join(headersDir, '.config'), 'utf8').catch(() => '');
    const cc = /^CONFIG_CC_VERSION_TEXT="(\S+)/m.exec(config)?.[1] ?? 'gcc';
    const ver = /gcc-(\d+)$/.exec(cc)?.[1];
    await need(cc, ver ? `gcc-${ver}` : cc.includes('clang') ? 'clang' : 'gcc');

    // scripts/ is normally a symlink into /usr/lib/linux-kbuild-<ver>/; fall back to any kbuild.
    const candidates = [path.join(headersDir, 'scripts/sign-file')];
    const kbuilds = await fs.readdir('/usr/lib').catch(() => [] as string[]);
    for (const d of kbuilds
      .filter((d) => d.startsWith('linux-kbuild-'))
      .sort()
      .reverse()) {
      candidates.push(path.join('/usr/lib', d, 'scripts/sign-file'));
    }
    for (const c of candidates) {
      if (
        await fs.access(c, fsc.X_OK).then(
          () => true,
          () => false,
        )
      ) {
        signFile = c;
        break;
      }
    }
    if (!signFile)
      missing.push(`scripts/sign-file not found in ${headersDir} nor /usr/lib/linux-kbuild-* (Debian: linux-kbuild-<version>)`);
  }
  if (missing.length) {
    throw new Error(`cannot build kernmod test modules for ${release}; missing:\n  - ${missing.join('\n  - ')}`);
  }
  return { headersDir, make, xz, zstd, openssl, signFile };
}

async function newestMtime(files: string[]): Promise<number> {
  let newest = 0;
  for (const f of files) newest = Math.max(newest, (await fs.stat(f)).mtimeMs);
  return newest;
}

async function sourceFiles(srcDir: string): Promise<string[]> {
  const names = await fs.readdir(srcDir);
  // Skip kbuild's generated *.mod.c in case someone ran make in the source dir itself.
  const isSource = (n: string) => n === 'Kbuild' || (/\.[ch]$/.test(n) && !n.endsWith('.mod.c'));
  return names
    .filter(isSource)
    .sort()
    .map((n) => path.join(srcDir, n));
}

/** The manifest if it is complete and newer than the sources, the builder and the headers' config. */
async function upToDate(manifestPath: string, inputs: string[]): Promise<TestModuleSet | undefined> {
  try {
    const [m, st] = await Promise.all([fs.readFile(manifestPath, 'utf8'), fs.stat(manifestPath)]);
    const set = JSON.parse(m) as TestModuleSet;
    if (st.mtimeMs <= (await newestMtime(inputs))) return undefined;
    for (const p of [...Object.values(set.modules), set.signingCert, set.signingKey]) {
      if (typeof p !== 'string' || !existsSync(p)) return undefined;
    }
    return set;
  } catch {
    return undefined;
  }
}

/**
 * Serializes builders of one output dir across processes (e.g. parallel test workers):
 * mkdir is atomic; a lock older than 10 minutes is treated as left over from a crash.
 */
async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${dir}.lock`;
  await fs.mkdir(path.dirname(lock), { recursive: true });
  for (;;) {
    try {
      await fs.mkdir(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const age = await fs.stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > 10 * 60_000) await fs.rm(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { recursive: true, force: true });
  }
}

/**
 * Replaces the vermagic flag "modversions" by "modversionX" in the .modinfo section of an ELF
 * module, in place. With CONFIG_MODVERSIONS the kernel skips the version word of vermagic and
 * compares only the flags, so changing the flags (not the version) is what makes it refuse the
 * module (ENOEXEC) unless MODULE_INIT_IGNORE_VERMAGIC is given. Same length, so no offsets move.
 * Returns the old and new vermagic values.
 */
export function forgeVermagic(ko: Buffer): { before: string; after: string } {
  if (ko.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  const is64 = ko[4] === 2;
  const le = ko[5] === 1;
  const u16 = (o: number) => (le ? ko.readUInt16LE(o) : ko.readUInt16BE(o));
  const u32 = (o: number) => (le ? ko.readUInt32LE(o) : ko.readUInt32BE(o));
  const word = (o: number) => (is64 ? Number(le ? ko.readBigUInt64LE(o) : ko.readBigUInt64BE(o)) : u32(o));
  const shoff = word(is64 ? 0x28 : 0x20);
  const [shentsize, shnum, shstrndx] = is64 ? [u16(0x3a), u16(0x3c), u16(0x3e)] : [u16(0x2e), u16(0x30), u16(0x32)];
  // Section header: sh_name (u32) at 0; sh_offset and sh_size at 24/32 (ELF64) or 16/20 (ELF32).
  const section = (i: number) => {
    const h = shoff + i * shentsize;
    return { name: u32(h), offset: word(h + (is64 ? 24 : 16)), size: word(h + (is64 ? 32 : 20)) };
  };
  const strtab = section(shstrndx);
  const nameOf = (n: number) => {
    const start = strtab.offset + n;
    return ko.toString('latin1', start, ko.indexOf(0, start));
  };
  let modinfo: { offset: number; size: number } | undefined;
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (nameOf(s.name) === '.modinfo') modinfo = s;
  }
  if (!modinfo) throw new Error('no .modinfo section');

  // .modinfo is a run of NUL-terminated key=value strings; find the one vermagic= entry.
  const entries: { offset: number; text: string }[] = [];
  for (let o = modinfo.offset, end = modinfo.offset + modinfo.size; o < end; ) {
    const nul = ko.indexOf(0, o);
    const stop = nul < 0 || nul > end ? end : nul;
    entries.push({ offset: o, text: ko.toString('latin1', o, stop) });
    o = stop + 1;
  }
  const vm = entries.filter((e) => e.text.startsWith('vermagic='));
  if (vm.length !== 1 || !vm[0]) throw new Error(`expected one vermagic= in .modinfo, found ${vm.length}`);
  const before = vm[0].text.slice('vermagic='.length);
  const words = before.split(' ');
  const hits = words.filter((w) => w === 'modversions').length;
  if (hits !== 1) throw new Error(`expected "modversions" once in vermagic "${before}", found ${hits}`);
  // Offset of that word: the words before it plus one space each.
  const wordAt = words.slice(0, words.indexOf('modversions')).reduce((n, w) => n + w.length + 1, 0);
  const at = vm[0].offset + 'vermagic='.length + wordAt + 'modversions'.length - 1;
  ko[at] = 'X'.charCodeAt(0);
  const after = ko.toString('latin1', vm[0].offset + 'vermagic='.length, vm[0].offset + vm[0].text.length);
  if (after !== before.replace(/(^| )modversions( |$)/, '$1modversionX$2')) throw new Error('vermagic edit went wrong');
  return { before, after };
}

/** OpenSSL config for the signing key, modelled on the kernel's certs/default_x509.genkey. */
const GENKEY = `[ req ]
default_bits = 4096
distinguished_name = req_distinguished_name
prompt = no
string_mask = utf8only
x509_extensions = myexts

[ req_distinguished_name ]
CN = ${SIGNER_CN}

[ myexts ]
basicConstraints=critical,CA:FALSE
keyUsage=digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
`;

/** Builds (or reuses) the test modules for one release. */
export async function buildTestModules(opts: BuildOptions): Promise<TestModuleSet> {
  const log = opts.log ?? (() => {});
  const { release, modulesDir } = resolveRelease(opts.release);
  const outRoot = path.resolve(opts.outRoot ?? path.join(findProjectRoot(), '.cache/test-modules'));
  const out = path.join(outRoot, release);
  const manifestPath = path.join(out, 'manifest.json');
  const srcDir = findSourceDir();
  const tools = await findTools(release, modulesDir);

  const sources = await sourceFiles(srcDir);
  const inputs = [...sources, fileURLToPath(import.meta.url)];
  const config = path.join(tools.headersDir, '.config');
  if (existsSync(config)) inputs.push(config);

  const cached = async () => (opts.force ? undefined : upToDate(manifestPath, inputs));
  const early = await cached();
  if (early) {
    log(`${release}: up to date (${manifestPath})`);
    return early;
  }

  return withLock(out, async () => {
    // Another process may have finished the same build while we waited for the lock.
    const again = await cached();
    if (again) return again;
    const t0 = Date.now();

    // kbuild writes its objects next to the sources, so build in a fresh copy.
    const src = path.join(out, 'src');
    await fs.rm(src, { recursive: true, force: true });
    await fs.mkdir(src, { recursive: true });
    for (const f of sources) await fs.copyFile(f, path.join(src, path.basename(f)));
    log(`${release}: make -C ${tools.headersDir} M=${src} modules`);
    await run(tools.make, ['-C', tools.headersDir, `M=${src}`, `-j${os.availableParallelism()}`, 'modules']);

    const ko = (name: string) => path.join(out, `${name}.ko`);
    for (const name of moduleNames) {
      const built = path.join(src, `${name}.ko`);
      if (!existsSync(built)) throw new Error(`kbuild did not produce ${built}`);
      if (name !== 'kernmod_forged') await fs.copyFile(built, ko(name));
    }

    const forged = await fs.readFile(path.join(src, 'kernmod_forged.ko'));
    const { after } = forgeVermagic(forged);
    await fs.writeFile(ko('kernmod_forged'), forged);
    log(`${release}: forged vermagic "${after}"`);

    const hello = await fs.readFile(ko('kernmod_hello'));
    const comp = path.join(out, 'compressed');
    const plain = path.join(out, 'plain-xz');
    await fs.mkdir(comp, { recursive: true });
    await fs.mkdir(plain, { recursive: true });
    const helloGz = path.join(comp, 'kernmod_hello.ko.gz');
    const helloZst = path.join(comp, 'kernmod_hello.ko.zst');
    const helloXz = path.join(comp, 'kernmod_hello.ko.xz');
    const helloPlainXz = path.join(plain, 'kernmod_hello.ko.xz');
    await fs.writeFile(helloGz, gzipSync(hello, { level: 9 }));
    await run(tools.zstd, ['-q', '-f', ko('kernmod_hello'), '-o', helloZst]);
    // XZ Embedded in the kernel only knows CRC32 and dictionaries up to 1 MiB (as kbuild uses).
    await fs.writeFile(helloXz, await run(tools.xz, ['--check=crc32', '--lzma2=dict=1MiB', '-c', ko('kernmod_hello')]));
    await fs.writeFile(helloPlainXz, await run(tools.xz, ['-c', ko('kernmod_hello')]));

    // Throwaway signing key, generated once per output dir and then reused.
    const signing = path.join(out, 'signing');
    const signingKey = path.join(signing, 'signing_key.pem');
    const signingCert = path.join(signing, 'signing_cert.pem');
    if (!existsSync(signingKey) || !existsSync(signingCert)) {
      await fs.mkdir(signing, { recursive: true });
      const genkey = path.join(signing, 'x509.genkey');
      await fs.writeFile(genkey, GENKEY);
      log(`${release}: generating signing key`);
      await run(tools.openssl, [
        'req',
        '-new',
        '-nodes',
        '-utf8',
        '-sha256',
        '-days',
        '36500',
        '-batch',
        '-x509',
        '-config',
        genkey,
        '-outform',
        'PEM',
        '-out',
        signingCert,
        '-keyout',
        signingKey,
      ]);
    }
    const signedDir = path.join(out, 'signed');
    const helloSigned = path.join(signedDir, 'kernmod_hello.ko');
    await fs.mkdir(signedDir, { recursive: true });
    await fs.copyFile(ko('kernmod_hello'), helloSigned);
    await run(tools.signFile, ['sha256', signingKey, signingCert, helloSigned]);

    const set: TestModuleSet = {
      release,
      builtAt: new Date().toISOString(),
      headersDir: tools.headersDir,
      modules: {
        hello: ko('kernmod_hello'),
        params: ko('kernmod_params'),
        fail: ko('kernmod_fail'),
        exporter: ko('kernmod_exporter'),
        importer: ko('kernmod_importer'),
        slow: ko('kernmod_slow'),
        forged: ko('kernmod_forged'),
        helloGz,
        helloZst,
        helloXz,
        helloPlainXz,
        helloSigned,
      },
      signingCert,
      signingKey,
      signer: SIGNER_CN,
    };
    // Written last and atomically: its presence means the set is complete.
    await fs.writeFile(`${manifestPath}.tmp`, `${JSON.stringify(set, null, 2)}\n`);
    await fs.rename(`${manifestPath}.tmp`, manifestPath);
    log(`${release}: built in ${Date.now() - t0} ms -> ${out}`);
    return set;
  });
}

async function main(argv: string[]): Promise<void> {
  const releases: string[] = [];
  let force = false;
  let outRoot: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--force' || a === '-f') force = true;
    else if (a === '--out') outRoot = argv[++i];
    else if (a === '--all') {
      for (const r of await fs.readdir('/lib/modules').catch(() => [] as string[])) {
        if (existsSync(path.join('/lib/modules', r, 'build'))) releases.push(r);
      }
    } else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else releases.push(a);
  }
  if (!releases.length) {
    throw new Error('usage: build.js [--force] [--out <dir>] (--all | <release|/lib/modules/<release>>...)');
  }
  for (const release of releases) {
    const set = await buildTestModules({ release, force, outRoot, log: (s) => console.error(s) });
    console.log(path.dirname(set.modules.hello));
  }
}

function isMain(): boolean {
  try {
    return !!process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

// Run as a script: `node dist/modules-src/build.js <release>...`.
if (isMain()) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  });
}
