// The DPoP end-to-end suite (dpop.suite.ts) on postgres; one file per backend so they run in parallel.
import { backends } from './harness.ts';
import { dpopSuite } from './dpop.suite.ts';

dpopSuite(backends.postgres);
