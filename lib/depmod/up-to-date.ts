// depmod -A (kmod's depfile_up_to_date): the indexes are current when no module file in the tree
// (build/ and source/ skipped, symlinks followed) has a later modification time, in whole seconds,
// than modules.dep.
import { opendirSync, statSync } from 'node:fs';
import { hasModuleExtension, strerror } from './tree.js';

/** False when a module is newer than modules.dep, or either cannot be read. */
export function upToDate(depDir: string, treeDir: string, error: (text: string) => void): boolean {
  let depTime: number;
  try {
    depTime = Math.floor(statSync(`${depDir}/modules.dep`).mtimeMs / 1000);
  } catch (e) {
    error(`could not fstatat(${depDir}, modules.dep): ${strerror(e)}\n`);
    return false;
  }
  let dir;
  try {
    dir = opendirSync(treeDir);
  } catch (e) {
    error(`could not open directory ${treeDir}: ${strerror(e)}\n`);
    return false;
  }
  dir.closeSync();
  return !newer(treeDir + '/', depTime, error);
}

/** Whether a module file under `base` was modified after `depTime`. */
function newer(base: string, depTime: number, error: (text: string) => void): boolean {
  let d;
  try {
    d = opendirSync(base);
  } catch (e) {
    error(`openat(${base}): ${strerror(e)}\n`);
    return false;
  }
  try {
    for (let e = d.readSync(); e !== null; e = d.readSync()) {
      const name = e.name;
      if (name === 'build' || name === 'source') continue;
      let st;
      try {
        st = statSync(base + name);
      } catch (err) {
        error(`fstatat(${base}, ${name}): ${strerror(err)}\n`);
        continue;
      }
      if (
        st.isDirectory()
          ? newer(`${base}${name}/`, depTime, error)
          : st.isFile() && hasModuleExtension(name) && Math.floor(st.mtimeMs / 1000) > depTime
      )
        return true;
    }
  } finally {
    d.closeSync();
  }
  return false;
}
