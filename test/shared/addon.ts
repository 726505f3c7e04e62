// Where the addons a test's child process (or worker thread) should load are: the file the test itself
// loads (lib/backend/addon.ts: a local build, a prebuilt one, or KERNMOD_NATIVE_DIR, the sanitizer build).
import { loadAddon } from '../../lib/backend/addon.js';

export function addonFile(name: 'kernmod' | 'kernmod_xz'): string {
  return loadAddon(name).path;
}

/** A line of CommonJS that loads the addon `name` into the constant `as`, for `node -e` and eval'd workers. */
export function requireLine(name: 'kernmod' | 'kernmod_xz', as: string): string {
  return `const ${as} = require(${JSON.stringify(addonFile(name))});`;
}
