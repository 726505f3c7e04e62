// Desired state for kernel modules: ensure(spec) and the pieces it is built from.
export { ensure, type EnsureOptions, type EnsureResult } from './ensure.js';
export { checkSpec, parseSpecText, STATES, type ModuleSpec, type ModuleSpecInput, type ModuleStateName, type SpecInput } from './spec.js';
export { planAll, planModule, sameValue, type Action, type ActionKind, type Drift, type ModuleSnapshot } from './plan.js';
export { MARKER, isOurs, renderConfigFile, renderLoadFile } from './render.js';
export { runningSystem, type ProvisionSystem } from './system.js';
