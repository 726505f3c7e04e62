// Splits the guest's serial console into "boot chatter" and the command's own output. The guest
// init prints "@@kernmod:<nonce>:begin@@" before the command and "@@kernmod:<nonce>:end <rc>@@"
// after it; only what lies between is the command's. The nonce keeps a command that happens to print
// marker-like text from confusing the parser. Pure (no I/O) so it can be unit-tested with any chunking.

export type ConsoleEvent =
  | { kind: 'begin' }
  | { kind: 'output'; text: string }
  | { kind: 'end'; exitCode: number }
  | { kind: 'error'; message: string }
  | { kind: 'probe-ok' };

export class ConsoleScanner {
  private state: 'boot' | 'command' | 'done' = 'boot';
  private pending = '';
  /** everything seen, \r removed (boot log + command output), for diagnostics */
  log = '';

  constructor(private readonly nonce: string) {}

  private marker(body: string): string {
    return `@@kernmod:${this.nonce}:${body}`;
  }

  get phase(): 'boot' | 'command' | 'done' {
    return this.state;
  }

  push(chunk: string): ConsoleEvent[] {
    const text = chunk.replace(/\r/g, '');
    this.log += text;
    this.pending += text;
    const events: ConsoleEvent[] = [];
    for (;;) {
      if (this.state === 'boot') {
        // Markers are whole lines in boot mode; look for complete lines only.
        const nl = this.pending.lastIndexOf('\n');
        if (nl < 0) break;
        const lines = this.pending.slice(0, nl + 1);
        const begin = this.marker('begin@@\n');
        const at = lines.indexOf(begin);
        const other = this.scanStatus(lines);
        events.push(...other);
        if (at >= 0) {
          this.state = 'command';
          events.push({ kind: 'begin' });
          this.pending = this.pending.slice(at + begin.length);
          continue;
        }
        this.pending = this.pending.slice(nl + 1);
        break;
      }
      if (this.state === 'command') {
        // init prints "\n" before the end marker so it is on its own line; that newline is ours.
        const endPrefix = '\n' + this.marker('end ');
        const at = this.pending.indexOf(endPrefix);
        if (at >= 0) {
          const close = this.pending.indexOf('@@', at + endPrefix.length);
          if (at > 0) events.push({ kind: 'output', text: this.pending.slice(0, at) });
          this.pending = this.pending.slice(at);
          if (close < 0) break; // marker not complete yet
          const rc = Number(this.pending.slice(endPrefix.length, close - at));
          events.push({ kind: 'end', exitCode: Number.isInteger(rc) ? rc : -1 });
          this.pending = '';
          this.state = 'done';
          break;
        }
        // Emit all but a tail that could be the start of the end marker.
        const keep = longestSuffixPrefix(this.pending, endPrefix);
        const emit = this.pending.slice(0, this.pending.length - keep);
        if (emit) events.push({ kind: 'output', text: emit });
        this.pending = this.pending.slice(emit.length);
        break;
      }
      this.pending = '';
      break;
    }
    return events;
  }

  /** Status lines the init prints before the command starts (probe verdict, boot errors). */
  private scanStatus(lines: string): ConsoleEvent[] {
    const out: ConsoleEvent[] = [];
    const re = new RegExp(`@@kernmod:${this.nonce}:(probe-ok|error [^\\n]*?)@@`, 'g');
    for (const m of lines.matchAll(re)) {
      const body = m[1] ?? '';
      out.push(body === 'probe-ok' ? { kind: 'probe-ok' } : { kind: 'error', message: body.slice('error '.length) });
    }
    return out;
  }

  /** At end of stream: output still held back (command killed mid-line, marker never came). */
  flush(): ConsoleEvent[] {
    if (this.state === 'command' && this.pending) {
      const text = this.pending;
      this.pending = '';
      return [{ kind: 'output', text }];
    }
    return [];
  }
}

/** Length of the longest suffix of `s` that is a proper prefix of `p`. */
export function longestSuffixPrefix(s: string, p: string): number {
  for (let k = Math.min(s.length, p.length - 1); k > 0; k--) {
    if (s.endsWith(p.slice(0, k))) return k;
  }
  return 0;
}
