// The GNU build ID (`.note.gnu.build-id`, an ELF note of type NT_GNU_BUILD_ID = 3 from owner "GNU"):
// the linker's hash that identifies this exact build; kmod master shows it as `build-id`.
// Note layout (gABI "Note Section"): namesz, descsz, type (4 bytes each, file byte order), then the
// name and the descriptor, each padded to 4 bytes.
import { ElfReader, elfError, findSectionStrict, type ElfFile } from './elf.js';

const NT_GNU_BUILD_ID = 3;

/** The build ID as lowercase hex, or undefined when the module has none. */
export function readBuildId(elf: ElfFile): string | undefined {
  const s = findSectionStrict(elf, '.note.gnu.build-id');
  if (!s) return undefined;
  const r = new ElfReader(elf.bytes, elf.endian === 'little');
  const end = s.offset + s.size;
  for (let p = s.offset; p + 12 <= end; ) {
    const namesz = r.u32(p);
    const descsz = r.u32(p + 4);
    const type = r.u32(p + 8);
    const name = p + 12;
    const desc = name + Math.ceil(namesz / 4) * 4;
    const next = desc + Math.ceil(descsz / 4) * 4;
    if (desc + descsz > end) throw elfError('.note.gnu.build-id note runs past its section');
    const owner = Buffer.from(elf.bytes.buffer, elf.bytes.byteOffset + name, namesz).toString('latin1');
    if (type === NT_GNU_BUILD_ID && owner === 'GNU\0') {
      return Buffer.from(elf.bytes.buffer, elf.bytes.byteOffset + desc, descsz).toString('hex');
    }
    p = next;
  }
  return undefined;
}
