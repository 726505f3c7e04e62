// modprobe's text output, byte for byte (kmod tools/modprobe.c print_action and show_config). Pure.
import { softdepToString, type ModprobeConfig } from './config.js';
import type { Plan } from './resolve.js';

/**
 * The lines `modprobe --show-depends` (or `-n -v`) prints for a plan:
 * `insmod <abs path> <options>` (a space after the path even without options), `install <command>
 * <options>`, and, only when the running kernel is ignored (--show-depends), `builtin <name>`.
 * Modules already in the kernel, blacklisted ones and missing ones print nothing, as in kmod.
 */
export function formatPlan(plan: Plan): string {
  let out = '';
  for (const m of plan.modules) {
    if (m.status !== 'ok') continue;
    for (const s of m.steps) {
      if (s.action === 'insmod') out += `insmod ${s.path} ${s.params}\n`;
      else if (s.action === 'install') out += `install ${s.command} ${s.params}\n`;
      else if (s.action === 'builtin' && plan.ignoreLoaded) out += `builtin ${s.module}\n`;
    }
  }
  return out;
}

/**
 * `modprobe -c`: every blacklist, install, remove, alias, options and softdep line, then the alias and
 * symbol indexes (kmod prints softdeps with its `pre: a bpost: c` spacing; weakdep lines, which kmod
 * v33+ prints too, come after softdeps).
 */
export function formatConfig(
  config: ModprobeConfig,
  aliasIndex: Array<{ key: string; value: string }>,
  symbolIndex: Array<{ key: string; value: string }>,
): string {
  let out = '';
  for (const b of config.blacklist) out += `blacklist ${b}\n`;
  for (const c of config.install) out += `install ${c.module} ${c.command}\n`;
  for (const c of config.remove) out += `remove ${c.module} ${c.command}\n`;
  for (const a of config.aliases) out += `alias ${a.pattern} ${a.module}\n`;
  for (const o of config.options) out += `options ${o.module} ${o.options}\n`;
  for (const s of config.softdeps) out += `softdep ${s.module} ${softdepToString(s)}\n`;
  for (const w of config.weakdeps) out += `weakdep ${w.module} ${w.deps.join(' ')}\n`;
  out += '\n# End of configuration files. Dumping indexes now:\n\n';
  for (const e of aliasIndex) out += `alias ${e.key} ${e.value}\n`;
  for (const e of symbolIndex) out += `alias ${e.key} ${e.value}\n`;
  return out;
}
