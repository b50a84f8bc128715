// The fault-injection suite (faults.suite.ts) on sqlite; one file per backend so they run in parallel.
import { backends } from './harness.ts';
import { faultSuite } from './faults.suite.ts';

faultSuite(backends.sqlite);
