// Man pages, generated from the option tables the commands parse with (lib/cli/options.ts): kernmod(1)
// and kernmod-<command>(1). scripts/gen-man.mjs writes them into dist/man at build time (package.json
// "man" lists them); they are never committed.
import type { OptionSpec } from './getopt.js';
import { COMMAND_DOCS, type CommandDoc } from './options.js';

/** roff text: a leading dot or quote would be a request, a backslash an escape, a dash a hyphen. */
const roff = (s: string) =>
  s
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1');

function optionItem(o: OptionSpec): string {
  const arg = o.arg ? (o.long ? `=\\fI${o.argName ?? 'ARG'}\\fR` : ` \\fI${o.argName ?? 'ARG'}\\fR`) : '';
  const shortArg = o.arg ? ` \\fI${o.argName ?? 'ARG'}\\fR` : '';
  const forms = [...(o.short ? [`\\fB\\-${o.short}\\fR${shortArg}`] : []), ...(o.long ? [`\\fB\\-\\-${roff(o.long)}\\fR${arg}`] : [])];
  return `.TP\n${forms.join(', ')}\n${roff(o.help ?? '')}\n`;
}

const header = (name: string, summary: string, date: string, version: string) =>
  `.TH ${name.toUpperCase()} 1 "${date}" "kernmod ${version}" "kernmod"\n.SH NAME\n${roff(name)} \\- ${roff(summary)}\n`;

function commandManPage(c: CommandDoc, version: string, date: string): string {
  let page = header(`kernmod-${c.name}`, c.summary, date, version);
  page += `.SH SYNOPSIS\n.B kernmod\n${roff(c.synopsis)}\n`;
  page += `.SH DESCRIPTION\n${roff(`kernmod ${c.name}: ${c.summary}.`)}\n`;
  if (['insmod', 'rmmod', 'lsmod', 'modprobe', 'modinfo', 'depmod'].includes(c.name)) {
    page +=
      `It takes kmod's options and prints kmod's text, messages and exit codes, plus a \\fBhint:\\fR line ` +
      `where kmod only says "see dmesg". With \\fB\\-\\-json\\fR a result is printed as JSON on stdout, ` +
      `and an error as \\fB{ "ok": false, "error": { "code": ..., "message": ... } }\\fR.\n`;
  }
  page += '.SH OPTIONS\n';
  page += c.options.map(optionItem).join('');
  if (c.name === 'modprobe')
    page +=
      `.SH ENVIRONMENT\n.TP\n.B MODPROBE_OPTIONS\nOptions read before the command line's, split at spaces ` +
      `as kmod splits them. As kmod's modprobe does, \\fB\\-C\\fR \\fIFILE\\fR, \\fB\\-q\\fR and ` +
      `\\fB\\-v\\fR are added to it for the install and remove commands it runs, so a nested ` +
      `\\fBmodprobe\\fR inherits them.\n`;
  const original = ['insmod', 'rmmod', 'lsmod', 'modinfo', 'modprobe', 'depmod', 'modload', 'modunload', 'modstat'].includes(c.name);
  page += '.SH EXIT STATUS\n0 on success, 1 on failure (as kmod), 141 when the reader of the output went away.\n';
  page += `.SH SEE ALSO\n\\fBkernmod\\fR(1)${original ? `, \\fB${c.name}\\fR(8)` : ''}\n`;
  return page;
}

function kernmodManPage(version: string, date: string): string {
  let page = header('kernmod', 'load, unload and inspect kernel modules through the real system calls', date, version);
  page +=
    '.SH SYNOPSIS\n.B kernmod\n\\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n.br\n.B kernmod\n\\fB\\-V\\fR | ' +
    '\\fB\\-\\-version\\fR | \\fB\\-\\-help\\fR\n';
  page +=
    '.SH DESCRIPTION\nA Node.js library and command line for Linux kernel modules (init_module, ' +
    'finit_module, delete_module) and NetBSD modctl(2). Linked as \\fBinsmod\\fR, \\fBrmmod\\fR, ' +
    '\\fBlsmod\\fR, \\fBmodinfo\\fR or \\fBmodprobe\\fR it behaves as that command.\n';
  page +=
    '.SH COMMANDS\n' +
    COMMAND_DOCS.map((c) => `.TP\n\\fB${c.name}\\fR\n${roff(c.summary)}; see \\fBkernmod\\-${c.name}\\fR(1).\n`).join('');
  page +=
    '.SH ENVIRONMENT\n.TP\n.B KERNMOD_BACKEND\n\\fBnative\\fR or \\fBffi\\fR: the system\\-call backend.\n' +
    '.TP\n.B KERNMOD_VM_CACHE\nwhere \\fBkernmod vm\\fR caches its images (default: ' +
    '\\fI$XDG_CACHE_HOME/kernmod/vm\\fR, else \\fI~/.cache/kernmod/vm\\fR; a git checkout uses its ' +
    '\\fI.cache/vm\\fR).\n';
  page +=
    '.SH SEE ALSO\n\\fBkmod\\fR(8), \\fBmodprobe\\fR(8), \\fBinsmod\\fR(8), \\fBrmmod\\fR(8), ' +
    '\\fBlsmod\\fR(8), \\fBmodinfo\\fR(8), \\fBdepmod\\fR(8)\n';
  return page;
}

/** Every page: [file name, text]. */
export function manPages(version: string, date: string): Array<[string, string]> {
  return [
    ['kernmod.1', kernmodManPage(version, date)],
    ...COMMAND_DOCS.map((c): [string, string] => [`kernmod-${c.name}.1`, commandManPage(c, version, date)]),
  ];
}
