// The shared client suites (refresh.suite.ts) on the ky client; session.fetch runs them in fetch.test.ts.
import { useFakeAuth } from '../helpers/setup.ts';
import { kyClient } from './kinds.ts';
import { refreshSuite } from './refresh.suite.ts';

refreshSuite(useFakeAuth(), kyClient);
