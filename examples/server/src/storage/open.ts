import { resolve } from 'node:path';
import { PostgresRepository } from './postgres.ts';
import type { Repository } from './repository.ts';
import { SqliteRepository, type SqliteSynchronous } from './sqlite.ts';

/** Backend settings that a URL does not carry. */
export type RepositoryOptions = { sqliteSynchronous?: SqliteSynchronous };

/**
 * Opens the repository named by a `DATABASE_URL`: `sqlite:<file>`, `sqlite::memory:`, or
 * `postgres://...` / `postgresql://...`. Migrations are applied before it is returned.
 */
export async function openRepository(databaseUrl: string, options: RepositoryOptions = {}): Promise<Repository> {
  const repository = createRepository(databaseUrl, options);
  try {
    await repository.migrate();
  } catch (error) {
    await repository.close().catch(() => {});
    throw error;
  }
  return repository;
}

function createRepository(databaseUrl: string, options: RepositoryOptions): Repository {
  if (/^postgres(ql)?:\/\//i.test(databaseUrl)) return new PostgresRepository(databaseUrl);
  const sqlite = /^sqlite:(?:\/\/)?(.+)$/i.exec(databaseUrl);
  if (sqlite?.[1]) {
    const location = sqlite[1];
    const synchronous = options.sqliteSynchronous;
    return new SqliteRepository(
      location === ':memory:' ? location : resolve(location),
      synchronous ? { synchronous } : {},
    );
  }
  throw new Error('DATABASE_URL must start with sqlite: or postgres:// (got an unsupported scheme)');
}
