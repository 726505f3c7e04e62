// depmod: a module tree in, kmod 30's modules.dep / .alias / .symbols / .softdep / .devname and their
// .bin tries out, byte for byte. See depmod.ts for the run and outputs.ts for the files.
export { depmod, depmodSync, DepmodError, type DepmodOptions, type DepmodResult, type DepmodMessage } from './depmod.js';
export { IndexWriter } from './index-writer.js';
export { OUTPUT_FILES } from './outputs.js';
