/**
 * Error names survive an app's minifying bundler: users branch on `error.name`, and a name
 * taken from the class at run time (`new.target.name`) would read `e` in a minified bundle.
 */
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { describe, expect, it } from 'vitest';
import * as sdk from '../src/index.ts';

const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const errorClasses = Object.entries(sdk).filter(
  ([, value]) => typeof value === 'function' && value.prototype instanceof Error,
) as [string, new (...args: never[]) => Error][];

describe('error names', () => {
  it('every exported error class names its instances after itself', () => {
    expect(errorClasses.map(([name]) => name)).toContain('SessionExpiredError');
    for (const [name, ErrorClass] of errorClasses) {
      expect(new ErrorClass(...(['x', 400] as never[])).name).toBe(name);
    }
  });

  it('keep their names in a minified bundle', async () => {
    const result = await esbuild.build({
      stdin: {
        contents: `import * as sdk from ${JSON.stringify(entry)};
          export const names = Object.fromEntries(Object.entries(sdk)
            .filter(([, v]) => typeof v === 'function' && v.prototype instanceof Error)
            .map(([k, v]) => [k, new v('x', 400).name]));`,
        resolveDir: process.cwd(),
        loader: 'ts',
      },
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'node',
      write: false,
      logLevel: 'error',
    });
    const code = result.outputFiles[0]!.text;
    const { names } = (await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`)) as {
      names: Record<string, string>;
    };
    expect(Object.keys(names).length).toBe(errorClasses.length);
    for (const [exported, name] of Object.entries(names)) expect(name).toBe(exported);
  });
});
