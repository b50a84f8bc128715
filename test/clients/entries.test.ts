/**
 * The two entries: `session-keeper/fetch` ships no ky (an app that sends with `session.fetch`
 * does not pay for it), and the main entry's SessionManager is the same class plus createClient.
 */
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';
import * as fetchEntry from '../../src/fetch.ts';
import * as mainEntry from '../../src/index.ts';

async function bundledInputs(entry: string): Promise<string[]> {
  const result = await esbuild.build({
    stdin: {
      contents: `export * from ${JSON.stringify(fileURLToPath(new URL(entry, import.meta.url)))};`,
      resolveDir: process.cwd(),
      loader: 'ts',
    },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    metafile: true,
    logLevel: 'error',
  });
  return Object.keys(result.metafile.inputs);
}

describe('entries', () => {
  it('session-keeper/fetch bundles without ky', async () => {
    const inputs = await bundledInputs('../../src/fetch.ts');
    expect(inputs.some((path) => path.includes('node_modules/ky/'))).toBe(false);
    expect(inputs.some((path) => path.includes('node_modules/jose/'))).toBe(true);
    const main = await bundledInputs('../../src/index.ts');
    expect(main.some((path) => path.includes('node_modules/ky/'))).toBe(true);
  });

  it('the main entry exports what session-keeper/fetch does, its SessionManager extended with createClient', () => {
    for (const name of Object.keys(fetchEntry)) expect(mainEntry, name).toHaveProperty(name);
    expect(Object.getPrototypeOf(mainEntry.SessionManager)).toBe(fetchEntry.SessionManager);
    expect('createClient' in fetchEntry.SessionManager.prototype).toBe(false);
    expect(typeof mainEntry.SessionManager.prototype.createClient).toBe('function');
  });
});
