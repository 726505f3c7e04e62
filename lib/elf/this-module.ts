// The module name compiled into `.gnu.linkonce.this_module` (struct module, filled by modpost's
// generated .mod.c). struct module begins { enum module_state state; struct list_head list;
// char name[MODULE_NAME_LEN]; ... }, so `name` sits after an int padded to pointer alignment and two
// pointers: offset 24 on 64-bit, 12 on 32-bit targets; MODULE_NAME_LEN = 64 - sizeof(unsigned long).
// The kernel prefers `.modinfo name=` (present since 5.3 via modpost) and falls back to this.
import { cString, findSection, parseElfSections, sectionBytes, type ElfFile } from './elf.js';

export function thisModuleNameLayout(elfClass: 32 | 64): { offset: number; length: number } {
  return elfClass === 64 ? { offset: 24, length: 56 } : { offset: 12, length: 60 };
}

/** The name in struct module, or undefined when the section is missing, too short or not NUL-terminated. */
export function readThisModuleName(elf: ElfFile): string | undefined {
  const s = findSection(elf, '.gnu.linkonce.this_module');
  if (!s) return undefined;
  const { offset, length } = thisModuleNameLayout(elf.class);
  if (s.size < offset + length) return undefined;
  const name = cString(elf.bytes, s.offset + offset, s.offset + offset + length);
  return name === '' || name.length === length ? undefined : name; // length: no NUL in the field
}

const NAME_SECTIONS = ['.modinfo', '.gnu.linkonce.this_module'] as const;

/** The first `name=` string of a `.modinfo`-style string table (NUL-separated `key=value`). */
function modinfoName(bytes: Uint8Array): string | undefined {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  return /(?:^|\0)name=([^\0]+)\0/.exec(text)?.[1];
}

/**
 * The name a module image registers under: `.modinfo name=`, else struct module's name (the kernel's
 * order). An image whose section table cannot be read (the fake kernel's images) names itself by its
 * first `name=` string, the rule the fake kernel loads it by. Undefined when the image names nothing.
 */
export function moduleNameOfImage(image: Uint8Array): string | undefined {
  let elf: ElfFile;
  try {
    elf = parseElfSections(image, NAME_SECTIONS);
  } catch {
    return modinfoName(image);
  }
  const modinfo = findSection(elf, '.modinfo');
  const fromModinfo = modinfo && modinfoName(sectionBytes(elf, modinfo));
  return fromModinfo || readThisModuleName(elf);
}
