// Reading kernel modules without a kernel: ELF sections, .modinfo, symbol versions, build ID and the
// appended signature, plus the .modinfo of built-in modules. Pure over bytes; only modinfo() and
// modinfoSync() touch the file system. (Finding a module by name or alias is lib/modprobe's job.)
export { modinfo, modinfoSync, modinfoFromImage, builtinModuleInfo, type ModinfoOptions, type ModuleInfo, type ModinfoSource } from './modinfo.js';
export { parseElf, findSection, sectionBytes, type ElfFile, type ElfSection } from './elf.js';
export { parseModinfoStrings, splitStrings, type ModinfoField } from './strings.js';
export { mergeParams, type ModuleParam } from './params.js';
export { readVersions, readExtendedVersions, readModuleVersions, type ModuleVersion } from './versions.js';
export { readBuildId } from './notes.js';
export { readThisModuleName, thisModuleNameLayout } from './this-module.js';
export { readSignature, hasSignatureTrailer, SIGNATURE_MAGIC, type ModuleSignature, type SignatureIdType } from './signature.js';
export { parsePkcs7, DIGEST_NAMES, type Pkcs7SignerInfo } from './pkcs7.js';
export { builtinModinfo } from './builtin.js';
