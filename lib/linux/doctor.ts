// preflight(): the system checks and, for a file, the file checks, run before trying a load.
import { modinfo } from '../elf/modinfo.js';
import { parseParams, type ParamsInput, encodeParams } from '../params.js';
import { fileChecks, systemChecks, systemFacts, type Check, type PreflightEnv } from './preflight.js';
import { isLoaded } from './state.js';

export interface PreflightResult {
  /** False when any check failed: the load would be refused. */
  ok: boolean;
  checks: Check[];
}

export async function preflight(path?: string, opts: PreflightEnv & { params?: ParamsInput } = {}): Promise<PreflightResult> {
  const sys = systemFacts(opts);
  const checks = systemChecks(sys);
  if (path !== undefined) {
    const info = await modinfo(path, { lenient: true });
    const params = opts.params === undefined ? [] : parseParams(encodeParams(opts.params)).map((p) => p.name);
    const state = opts.root === undefined ? {} : { root: opts.root };
    checks.push(
      ...fileChecks(
        {
          name: info.name,
          vermagic: info.vermagic,
          signed: info.signature !== undefined,
          ...(info.signature?.signer ? { signer: info.signature.signer } : {}),
          compression: info.compression,
          params: info.params.map((p) => p.name),
          depends: info.depends,
        },
        sys,
        { params, loaded: (name) => isLoaded(name, state) },
      ),
    );
  }
  return { ok: !checks.some((c) => c.status === 'fail'), checks };
}
