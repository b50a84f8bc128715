// The shared client suites (refresh.suite.ts) on session.fetch; the ky client runs them in ky.test.ts.
import { useFakeAuth } from '../helpers/setup.ts';
import { fetchClient } from './kinds.ts';
import { refreshSuite } from './refresh.suite.ts';

refreshSuite(useFakeAuth(), fetchClient);
