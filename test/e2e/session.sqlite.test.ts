// The end-to-end suite (session.suite.ts) on sqlite; one file per backend so they run in parallel.
import { backends } from './harness.ts';
import { sessionSuite } from './session.suite.ts';

sessionSuite(backends.sqlite);
