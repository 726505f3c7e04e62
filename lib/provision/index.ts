// Desired state for kernel modules: ensure(spec) and the pieces it is built from.
export { ensure, type EnsureOptions, type EnsureResult } from './ensure.js';
export { checkSpec, parseSpecText, STATES, type ModuleSpecInput, type ModuleStateName, type SpecInput } from './spec.js';
export { planAll, sameValue, type Action, type Drift } from './plan.js';
export { MARKER } from './render.js';
export type { ProvisionSystem } from './system.js';
