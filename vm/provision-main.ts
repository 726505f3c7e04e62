// CI entry: `node dist/vm/provision-main.js [--kernels 6.1,6.12] [--check]` installs what the VM
// rig needs (root + apt), or with --check only reports what is missing (exit 1 if anything is).
import { parseArgs } from 'node:util';
import { provision } from './provision.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { kernels: { type: 'string', default: '6.1,6.12' }, check: { type: 'boolean' } },
  });
  const kernels = (values.kernels ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  try {
    await provision({ kernels, install: !values.check, log: (s) => console.log(s) });
    return 0;
  } catch (e) {
    console.error((e as Error).message);
    return 1;
  }
}

process.exitCode = await main();
