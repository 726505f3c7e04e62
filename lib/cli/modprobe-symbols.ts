// `modprobe --show-exports FILE` and `--show-modversions FILE` (kmod 30's show_exports and
// show_modversions): one `0x%08x\t<symbol>` line per symbol the module file exports (the CRCs of its
// `__crc_` symbols, else `__ksymtab_strings` with CRC 0, as depmod reads them) or per `__versions`
// entry it needs. Only the first operand is read, as in kmod; a path, never a module name.
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { decompress, detectCompression } from '../compress/index.js';
import { readModuleFile } from '../depmod/read-module.js';
import { parseElf } from '../elf/elf.js';
import { readVersions } from '../elf/versions.js';

export type SymbolListing = 'exports' | 'modversions';

const crcText = (crc: number | bigint) => `0x${crc.toString(16).padStart(8, '0')}`;

async function symbolsOf(file: string, what: SymbolListing): Promise<Array<{ crc: number | bigint; symbol: string }>> {
  if (what === 'exports') return (await readModuleFile(file)).exports.map((e) => ({ crc: e.crc, symbol: e.name }));
  const bytes = await readFile(file);
  return readVersions(parseElf(detectCompression(bytes) ? await decompress(bytes) : bytes));
}

/** kmod's lines of the listing, or the error kmod gives (`Module X not found.`, `could not get ...`). */
export async function listSymbols(
  file: string,
  what: SymbolListing,
): Promise<{ symbols: Array<{ crc: string; symbol: string }>; text: string } | { error: string; code: string }> {
  try {
    statSync(file); // kmod_module_new_from_path: a file that cannot be stat()ed is "not found"
  } catch {
    return { error: `Module ${file} not found.`, code: 'ERR_KERNMOD_NOT_FOUND' };
  }
  let symbols;
  try {
    symbols = await symbolsOf(file, what);
  } catch (e) {
    const code = (e as { code?: string }).code;
    // An unreadable file keeps its errno's words; anything that is not a module is ENOEXEC for kmod.
    const reason = code === 'EACCES' ? 'Permission denied' : code === 'EISDIR' ? 'Is a directory' : 'Exec format error';
    return { error: `could not get ${what === 'exports' ? 'symbols' : 'modversions'} of ${file}: ${reason}`, code: code ?? 'ENOEXEC' };
  }
  const listed = symbols.map((s) => ({ crc: crcText(s.crc), symbol: s.symbol }));
  return { symbols: listed, text: listed.map((s) => `${s.crc}\t${s.symbol}\n`).join('') };
}
