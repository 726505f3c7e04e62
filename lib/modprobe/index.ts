// lib/modprobe: modprobe as a library — the module directory, modprobe.d, plans, probe and remove.
export { Modprobe, moduleDirname, resolve, resolveSync, probe, remove, type ModprobeOptions, type ProbeOptions } from './modprobe.js';
export type { Plan, ModulePlan, PlanStep, StepAction, ResolveOptions, LookupResult } from './resolve.js';
export type { ProbeResult, StepResult, StepOutcome } from './probe.js';
export type { RemoveOptions, RemoveResult, RemoveStep } from './remove.js';
export { formatPlan, formatConfig } from './format.js';
export {
  parseModprobeConf,
  parseKernelCmdline,
  type ModprobeConfig,
  type ConfigDiagnostic,
} from './config.js';
export { loadConfig, loadConfigSync } from './config-files.js';
export { ModuleDirectory } from './moddir.js';
export { BinaryIndex } from './index-bin.js';
export { fnmatch } from './fnmatch.js';
export { normalizeAlias } from './normalize.js';
