// `kernmod completion bash|zsh`: shell completion generated from the option tables the commands parse
// with (lib/cli/options.ts). The same scripts are written into dist/completion at build time
// (scripts/gen-man.mjs), so a package can install them. Module names come from the running system at
// completion time: loaded ones (/proc/modules) for rmmod, installed ones (modules.dep) for modprobe.
import { getoptLong, type OptionSpec } from './getopt.js';
import { COMMAND_DOCS, COMPLETION_OPTIONS, type CommandDoc } from './options.js';
import type { Io } from './output.js';

const takesPath = (o: OptionSpec) => o.argName === 'FILE' || o.argName === 'DIR';
const names = (o: OptionSpec) => [...(o.short ? [`-${o.short}`] : []), ...(o.long ? [`--${o.long}`] : [])];

/** What completes a command's operands, in bash and in zsh. */
const OPERANDS: Record<CommandDoc['operands'], { bash: string; zsh: string }> = {
  'loaded-module': { bash: '_kernmod_loaded', zsh: `'*:module:_kernmod_loaded'` },
  module: { bash: '_kernmod_installed; _kernmod_files', zsh: `'*:module:_kernmod_installed'` },
  file: { bash: '_kernmod_files', zsh: `'*:file:_files'` },
  none: { bash: ':', zsh: '' },
};

function bashCase(c: CommandDoc): string {
  const opts = c.options;
  const pathArgs = opts.filter((o) => o.arg && takesPath(o)).flatMap(names);
  const otherArgs = opts.filter((o) => o.arg && !takesPath(o)).flatMap(names);
  return [
    `    ${c.name})`,
    ...(pathArgs.length ? [`      case $prev in ${pathArgs.join('|')}) _kernmod_files; return ;; esac`] : []),
    ...(otherArgs.length ? [`      case $prev in ${otherArgs.join('|')}) return ;; esac`] : []),
    `      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W '${opts.flatMap(names).join(' ')}' -- "$cur")); return; fi`,
    `      ${OPERANDS[c.operands].bash} ;;`,
  ].join('\n');
}

export function bashCompletion(): string {
  const commands = COMMAND_DOCS.map((c) => c.name);
  return `# bash completion for kernmod (generated from its option tables: kernmod completion bash)
_kernmod_files() { COMPREPLY+=($(compgen -f -- "$cur")); }
_kernmod_loaded() { [[ -r /proc/modules ]] && COMPREPLY+=($(compgen -W "$(cut -d' ' -f1 /proc/modules)" -- "$cur")); }
_kernmod_installed() {
  local dep=/lib/modules/$(uname -r)/modules.dep
  [[ -r $dep ]] && COMPREPLY+=($(compgen -W "$(sed -e 's/:.*//' -e 's#.*/##' -e 's/\\.ko.*//' "$dep")" -- "$cur"))
}
_kernmod() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} cmd=\${COMP_WORDS[0]##*/}
  COMPREPLY=()
  if [[ $cmd == kernmod ]]; then
    if ((COMP_CWORD == 1)); then COMPREPLY=($(compgen -W '${commands.join(' ')} --help --version' -- "$cur")); return; fi
    cmd=\${COMP_WORDS[1]}
  fi
  case $cmd in
${COMMAND_DOCS.map(bashCase).join('\n')}
  esac
}
complete -F _kernmod kernmod insmod rmmod lsmod modprobe
`;
}

/** zsh _arguments quoting: the text goes inside '...' and [...]. */
const zq = (s: string) => s.replace(/'/g, `'\\''`).replace(/([[\]:])/g, '\\$1');

function zshSpecs(o: OptionSpec): string[] {
  const help = zq(o.help ?? '');
  const arg = o.arg ? `:${zq(o.argName ?? 'ARG')}:${o.argName === 'DIR' ? '_files -/' : o.argName === 'FILE' ? '_files' : ' '}` : '';
  const out: string[] = [];
  if (o.short) out.push(`'-${o.short}${o.arg === 'required' ? '+' : ''}[${help}]${arg}'`);
  if (o.long) out.push(`'--${o.long}${o.arg === 'required' ? '=' : ''}[${help}]${arg}'`);
  return out;
}

const zshCase = (c: CommandDoc) => `    ${c.name}) _arguments -s ${c.options.flatMap(zshSpecs).join(' ')} ${OPERANDS[c.operands].zsh} ;;`;

export function zshCompletion(): string {
  return `#compdef kernmod insmod rmmod lsmod modprobe
# zsh completion for kernmod (generated from its option tables: kernmod completion zsh)
_kernmod_loaded() { [[ -r /proc/modules ]] && compadd -- \${\${(f)"$(</proc/modules)"}%% *} }
_kernmod_installed() {
  local dep=/lib/modules/$(uname -r)/modules.dep
  [[ -r $dep ]] && compadd -- \${\${\${\${(f)"$(<$dep)"}%%:*}##*/}%%.ko*}
  _files
}
_kernmod() {
  local cmd=\${service}
  if [[ $cmd == kernmod ]]; then
    if (( CURRENT == 2 )); then
      local -a commands=(${COMMAND_DOCS.map((c) => `'${c.name}:${zq(c.summary)}'`).join(' ')})
      _describe command commands
      return
    fi
    cmd=\${words[2]}
    shift words
    (( CURRENT-- ))
  fi
  case $cmd in
${COMMAND_DOCS.map(zshCase).join('\n')}
  esac
}
_kernmod "$@"
`;
}

const COMPLETION_USAGE =
  // biome-ignore lint/suspicious/noTemplateCurlyInString: zsh's ${fpath[1]}, shown to the user as typed
  'Usage: kernmod completion bash|zsh\n  bash: eval "$(kernmod completion bash)"   zsh: kernmod completion zsh > "${fpath[1]}/_kernmod"\n';

export function completionCommand(argv: string[], io: Io): number {
  const parsed = getoptLong(argv, COMPLETION_OPTIONS);
  if (parsed.error !== undefined) {
    io.err(`completion: ${parsed.error}\n${COMPLETION_USAGE}`);
    return 1;
  }
  if (parsed.options.some((o) => o.key === 'help')) {
    io.out(COMPLETION_USAGE);
    return 0;
  }
  const [shell, ...rest] = parsed.operands;
  if (rest.length === 0 && shell === 'bash') io.out(bashCompletion());
  else if (rest.length === 0 && shell === 'zsh') io.out(zshCompletion());
  else {
    io.err(COMPLETION_USAGE);
    return 1;
  }
  return 0;
}
