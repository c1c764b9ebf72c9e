/**
 * Loaded by every Vitest project (see vitest.config.ts). Installs the egress guard in the test worker,
 * hands it to every child process through NODE_OPTIONS, and fails the test during which this worker
 * or any of its children tried to reach a non-loopback address.
 */
import { afterEach, beforeEach } from 'vitest';
import { installEgressGuardForWorker } from './egress.js';

const guard = installEgressGuardForWorker();

beforeEach(() => {
  guard.reset();
});

afterEach(() => {
  guard.assertNoViolations();
});
