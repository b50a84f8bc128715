import { resolve } from 'node:path';
import { PostgresRepository } from './postgres.ts';
import type { Repository } from './repository.ts';
import { SqliteRepository } from './sqlite.ts';

/**
 * Opens the repository named by a `DATABASE_URL`: `sqlite:<file>`, `sqlite::memory:`, or
 * `postgres://...` / `postgresql://...`. Migrations are applied before it is returned.
 */
export async function openRepository(databaseUrl: string): Promise<Repository> {
  const repository = createRepository(databaseUrl);
  try {
    await repository.migrate();
  } catch (error) {
    await repository.close().catch(() => {});
    throw error;
  }
  return repository;
}

function createRepository(databaseUrl: string): Repository {
  if (/^postgres(ql)?:\/\//i.test(databaseUrl)) return new PostgresRepository(databaseUrl);
  const sqlite = /^sqlite:(?:\/\/)?(.+)$/i.exec(databaseUrl);
  if (sqlite?.[1]) {
    const location = sqlite[1];
    return new SqliteRepository(location === ':memory:' ? location : resolve(location));
  }
  throw new Error('DATABASE_URL must start with sqlite: or postgres:// (got an unsupported scheme)');
}
