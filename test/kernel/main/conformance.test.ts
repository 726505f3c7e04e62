// The backend conformance suite, now against a real kernel: every errno the host could only answer with
// ENOSYS must come back as the kernel's real answer, identically from native and ffi.
import { realBackends } from '../../shared/backends.js';
import { conformanceSuite } from '../../shared/conformance.js';
import { requireKernel } from '../helpers.js';

requireKernel();
conformanceSuite(realBackends());
