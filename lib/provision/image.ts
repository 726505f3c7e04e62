// An offline image (ensure()'s imageRoot, `kernmod apply --root DIR`): paths inside it and the module
// names it knows. A path in the image is resolved as a chroot at the image would resolve it: a symlink's
// absolute target starts again at the image root and `..` stops there, so a link such as a merged-/usr
// image's `lib -> /usr/lib` leads to the image's own /usr/lib, never to the host's.
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { invalidInput, systemError } from '../errors.js';
import { emptyConfig } from '../modprobe/config.js';
import { ModuleDirectory } from '../modprobe/moddir.js';
import { Resolver } from '../modprobe/resolve.js';

/** The kernel's limit on symlinks followed in one path walk (ELOOP beyond it). */
const MAX_SYMLINKS = 40;

const errnoCode = (e: unknown) => (e as NodeJS.ErrnoException).code;

/**
 * The host path of `path` (relative to the image root, or absolute within it) with every symlink along
 * it resolved inside `root`. The components that do not exist yet are kept as given, so the result is
 * also where a file or directory would be created.
 */
export function pathInImage(root: string, path: string): string {
  const done: string[] = [];
  const todo = path.split('/');
  let links = 0;
  while (todo.length) {
    const part = todo.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, part);
    let isLink: boolean;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT' && errnoCode(e) !== 'ENOTDIR')
        throw systemError(-Math.abs((e as NodeJS.ErrnoException).errno ?? 5), 'open', { path: host });
      return join(host, ...todo);
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw systemError(-40, 'open', { path: host }); // ELOOP, as open(2) says
    const target = readlinkSync(host);
    if (target.startsWith('/')) done.length = 0;
    todo.unshift(...target.split('/'));
  }
  return join(root, ...done);
}

/** One module tree of the image: its release and its directory on the host. */
export interface ImageTree {
  release: string;
  dir: string;
}

/**
 * The image's module trees: each `lib/modules/<release>/` (resolved inside the image) that depmod has
 * indexed (modules.dep or modules.dep.bin). An index file there that is a symlink is refused: reading
 * it would follow the link on the host (depmod never writes one).
 */
function imageModuleTrees(root: string): ImageTree[] {
  const base = pathInImage(root, 'lib/modules');
  let releases: string[];
  try {
    releases = readdirSync(base).sort();
  } catch {
    releases = [];
  }
  const trees: ImageTree[] = [];
  for (const release of releases) {
    const dir = pathInImage(root, `lib/modules/${release}`);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue; // not a directory (or gone)
    }
    const index = names.filter((n) => n.startsWith('modules.'));
    for (const n of index) {
      if (lstatSync(join(dir, n)).isSymbolicLink()) {
        throw invalidInput(
          'ERR_KERNMOD_INVALID_IMAGE',
          `${join(dir, n)} is a symbolic link: kernmod reads an image's index files only as regular files inside the image`,
          {
            path: join(dir, n),
            hint: `replace it with the file itself, or run depmod for the image again: kernmod depmod -b ${root} ${release}`,
          },
        );
      }
    }
    if (index.includes('modules.dep') || index.includes('modules.dep.bin')) trees.push({ release, dir });
  }
  if (!trees.length) {
    throw invalidInput(
      'ERR_KERNMOD_NO_MODULE_TREE',
      `no module tree in the image: ${join(root, 'lib/modules')} holds no <release>/modules.dep, so module names cannot be checked`,
      {
        path: root,
        hint: `run depmod for the image's kernel first: kernmod depmod -b ${root} RELEASE`,
      },
    );
  }
  return trees;
}

/**
 * Looks names up in every module tree of the image as probe() would resolve them there (modules.dep,
 * modules.alias, modules.builtin, the built-in aliases; the image's modprobe.d is not consulted): a name
 * known in any one tree is known, since an image may hold several kernels and boot any of them.
 */
export async function imageModuleFinder(
  root: string,
): Promise<{ trees: ImageTree[]; find(module: string): 'module' | 'builtin' | undefined }> {
  const trees = imageModuleTrees(root);
  const resolvers = await Promise.all(trees.map(async (t) => new Resolver(await ModuleDirectory.open(t.dir), emptyConfig())));
  return {
    trees,
    find(module) {
      let found: 'module' | 'builtin' | undefined;
      for (const r of resolvers) {
        for (const hit of r.lookup(module)) {
          if (hit.source !== 'modules.builtin' && hit.source !== 'builtin-alias') return 'module';
          found = 'builtin';
        }
      }
      return found;
    },
  };
}
