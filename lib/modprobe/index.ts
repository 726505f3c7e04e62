// lib/modprobe: modprobe as a library — the module directory, modprobe.d, plans, probe and remove.
export { Modprobe, moduleDirname, resolve, resolveSync, probe, remove, type ModprobeOptions, type ProbeOptions } from './modprobe.js';
export type { Plan, ModulePlan, PlanStep, StepAction, ResolveOptions, LookupResult, RemovalInfo } from './resolve.js';
export type { ProbeResult, StepResult, StepOutcome, ExecuteOptions } from './probe.js';
export type { RemoveOptions, RemoveResult, RemoveStep } from './remove.js';
export type { CommandRunner } from './command.js';
export { formatPlan, formatConfig } from './format.js';
export {
  parseModprobeConf,
  parseKernelCmdline,
  emptyConfig,
  type ModprobeConfig,
  type ConfigAlias,
  type ConfigOptions,
  type ConfigCommand,
  type ConfigSoftdep,
  type ConfigWeakdep,
  type ConfigDiagnostic,
  type KernelCmdlineConfig,
} from './config.js';
export { loadConfig, loadConfigSync, listConfigSources, DEFAULT_CONFIG_PATHS } from './config-files.js';
export { ModuleDirectory } from './moddir.js';
export { BinaryIndex, type IndexValue } from './index-bin.js';
export { parseModulesDep, parseDepLine, parseModulesAlias, parseModulesBuiltin, parseBuiltinModinfo, type DepEntry, type AliasEntry } from './moddir-text.js';
export { fnmatch } from './fnmatch.js';
export { normalizeAlias } from './normalize.js';
