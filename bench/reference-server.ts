/**
 * The reference server (examples/server) for the DPoP pair of the benchmark, in its own process
 * so that its CPU is not the client's: SQLite in memory, one user, no rate limit, DPoP on.
 * Prints `{"url":"http://127.0.0.1:N"}` on stdout once listening; SIGTERM stops it.
 */
import { startServer } from '../examples/server/src/index.ts';

const server = await startServer({
  port: 0,
  databaseUrl: 'sqlite::memory:',
  seedUsers: 'bench:bench-secret',
  rateLimitPerMinute: 0,
  loginRateLimitPerMinute: 0,
  grantLogLimit: 0,
});
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
process.on('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
