/**
 * The README blocks marked `<!-- snippet: runs -->` run as a reader would run them: each as
 * its own Node.js process, importing the built package by name, against the reference server
 * on a loopback port (its example.com URLs pointed there). Compiling every block is
 * `npm run docs:snippets`.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../examples/server/src/index.ts';
import { extractSnippets, moduleSource, READMES, snippetFileName, snippetFolder, type Snippet } from './snippets.ts';

const run = promisify(execFile);
const runnable = READMES.filter((readme) => readme.base === '.').flatMap((readme) =>
  extractSnippets(readme).filter((s) => s.runs),
);

describe('README blocks run on Node.js against the reference server', () => {
  let server: RunningServer;
  let folder: string;
  beforeAll(async () => {
    server = await startServer({ port: 0, databaseUrl: 'sqlite::memory:', passwordHashCost: 'low' });
    folder = snippetFolder(READMES[0]!);
  });
  afterAll(() => server?.close());

  it('finds the marked blocks: Usage, the Node store, discovery, many tabs, testing, the server from code', () => {
    expect(runnable.map((s) => s.readme.file)).toEqual([...Array(5).fill('README.md'), 'examples/server/README.md']);
  });

  it.each(runnable.map((snippet) => [`${snippet.readme.file}:${snippet.line}`, snippet] as [string, Snippet]))(
    '%s',
    async (_where, snippet) => {
      const code = moduleSource(snippet, './snippet-env.ts')
        .replaceAll('https://api.example.com/v1', `${server.url}/api`)
        .replaceAll('https://auth.example.com', server.url);
      const file = join(folder, snippetFileName(snippet));
      writeFileSync(file, code);
      const home = mkdtempSync(join(tmpdir(), 'sk-snippet-home-'));
      const flags = snippet.localStorage
        ? ['--experimental-webstorage', `--localstorage-file=${join(home, 'localstorage')}`]
        : [];
      const clientId = /clientId: '([^']+)'/.exec(snippet.code)?.[1] ?? 'my-app';
      const { stderr } = await run(process.execPath, ['--no-warnings', ...flags, file], {
        cwd: folder,
        env: { ...process.env, HOME: home, SNIPPET_AUTH_URL: server.url, SNIPPET_CLIENT_ID: clientId },
        timeout: 30_000,
      });
      expect(stderr).toBe('');
    },
  );
});
