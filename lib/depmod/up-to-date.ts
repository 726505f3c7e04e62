// depmod -A (kmod's depfile_up_to_date): the indexes are current when no module file in the tree
// (build/ and source/ skipped, symlinks followed) has a later modification time, in whole seconds,
// than modules.dep.
import { opendirSync, statSync } from 'node:fs';
import { hasModuleExtension, strerror } from './tree.js';

/** 1: up to date; 0: a module is newer; negative: modules.dep (or the tree) could not be read. */
export function upToDate(depDir: string, treeDir: string, error: (text: string) => void): number {
  let depTime: number;
  try {
    depTime = Math.floor(statSync(`${depDir}/modules.dep`).mtimeMs / 1000);
  } catch (e) {
    error(`could not fstatat(${depDir}, modules.dep): ${strerror(e)}\n`);
    return -1;
  }
  let dir;
  try {
    dir = opendirSync(treeDir);
  } catch (e) {
    error(`could not open directory ${treeDir}: ${strerror(e)}\n`);
    return -1;
  }
  dir.closeSync();
  return walk(treeDir + '/', depTime, error);
}

function walk(base: string, depTime: number, error: (text: string) => void): number {
  let result = 1;
  let d;
  try {
    d = opendirSync(base);
  } catch (e) {
    error(`openat(${base}): ${strerror(e)}\n`);
    return 1;
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
      if (st.isDirectory()) result = walk(`${base}${name}/`, depTime, error);
      else if (st.isFile()) {
        if (!hasModuleExtension(name)) continue;
        result = Math.floor(st.mtimeMs / 1000) <= depTime ? 1 : 0;
      } else continue;
      if (result === 0) return 0;
    }
  } finally {
    d.closeSync();
  }
  return result;
}
