// The reference the addon's depmod reader is held to (module-symbols.ts through read-module.ts).
import { pack } from '../../lib/depmod/native-reader.js';
import { readModuleFileSync } from '../../lib/depmod/read-module.js';

/** The reference's answer for a module file: a Packed module, or undefined where it throws. */
export function referencePacked(path: string, crcs: boolean) {
  try {
    return pack(readModuleFileSync(path, crcs), crcs);
  } catch {
    return undefined;
  }
}
