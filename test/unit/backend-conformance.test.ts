// The backend conformance suite (test/shared/conformance.ts) on this host: native and ffi against the
// host's kernel (usually without module support: every call must answer ENOSYS with the full error
// shape), and the fake kernel, a simulation labelled as such.
import { fakeBackends, realBackends } from '../shared/backends.js';
import { conformanceSuite } from '../shared/conformance.js';

conformanceSuite([...realBackends(), ...fakeBackends()]);
