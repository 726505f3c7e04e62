// Moved: preflight() lives beside its checks in preflight.ts. This file goes once lib/index.ts imports from there.
export { preflight, type PreflightResult } from './preflight.js';
