import { describe, it, expect } from 'vitest';
import { ConsoleScanner, longestSuffixPrefix, type ConsoleEvent } from '../../vm/console.js';

const N = 'abc123';
const serial =
  'SeaBIOS...\r\n[    1.2] some warning\r\n' +
  `\r\n@@kernmod:${N}:begin@@\r\n` +
  'line one\r\nline two\r\nno newline at the end' +
  `\n@@kernmod:${N}:end 3@@\n` +
  '[    9.9] reboot: Power down\r\n';

function scanIn(chunks: string[]) {
  const s = new ConsoleScanner(N);
  const events: ConsoleEvent[] = [];
  for (const c of chunks) events.push(...s.push(c));
  events.push(...s.flush());
  const output = events.flatMap((e) => (e.kind === 'output' ? [e.text] : [])).join('');
  return { events, output, scanner: s };
}

describe('ConsoleScanner', () => {
  it('extracts exactly the command output and exit code, whatever the chunking', () => {
    for (const size of [1, 2, 3, 5, 7, 13, 64, serial.length]) {
      const chunks: string[] = [];
      for (let i = 0; i < serial.length; i += size) chunks.push(serial.slice(i, i + size));
      const { events, output, scanner } = scanIn(chunks);
      expect(output, `chunk size ${size}`).toBe('line one\nline two\nno newline at the end');
      expect(events.filter((e) => e.kind === 'begin')).toHaveLength(1);
      expect(events.find((e) => e.kind === 'end')).toEqual({ kind: 'end', exitCode: 3 });
      expect(scanner.phase).toBe('done');
      expect(scanner.log).not.toContain('\r');
    }
  });

  it('ignores markers with another nonce and marker-like command output', () => {
    const text = `\n@@kernmod:${N}:begin@@\n@@kernmod:other:end 0@@\nfake @@kernmod:${N}:begin@@\n\n@@kernmod:${N}:end 0@@\n`;
    const { output, events } = scanIn([text]);
    expect(output).toBe(`@@kernmod:other:end 0@@\nfake @@kernmod:${N}:begin@@\n`);
    expect(events.find((e) => e.kind === 'end')).toEqual({ kind: 'end', exitCode: 0 });
  });

  it('reports init errors and probe success during boot', () => {
    const { events } = scanIn([`x\n@@kernmod:${N}:error cannot mount /tmp@@\n`, `@@kernmod:${N}:probe-ok@@\n`]);
    expect(events).toEqual([{ kind: 'error', message: 'cannot mount /tmp' }, { kind: 'probe-ok' }]);
  });

  it('hands out held-back output when the guest dies mid-command', () => {
    const { output, events } = scanIn([`\n@@kernmod:${N}:begin@@\npartial\n@@kern`]);
    expect(output).toBe('partial\n@@kern');
    expect(events.some((e) => e.kind === 'end')).toBe(false);
  });

  it('longestSuffixPrefix', () => {
    expect(longestSuffixPrefix('abc\n@@ke', '\n@@kernmod')).toBe(5);
    expect(longestSuffixPrefix('abc', '\n@@kernmod')).toBe(0);
    expect(longestSuffixPrefix('x\n', '\n@@kernmod')).toBe(1);
  });
});
