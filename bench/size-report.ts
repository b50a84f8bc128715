/**
 * `npm run size:report`: where the bytes of the size budget go. `npm run size` (size-limit)
 * says whether the budget holds; this says why, for the same import as `.size-limit.json`:
 * each source module's share of the minified own code, and each dependency's min+gzip size
 * on its own. Minified with esbuild, gzip level 9; size-limit bundles with rolldown, so its
 * totals differ from these by a few per cent.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const DEPENDENCIES = ['ky', 'jose', 'p-queue', 'mitt'];
const [, check] = JSON.parse(readFileSync(`${root}.size-limit.json`, 'utf8')) as { import: string }[];

async function minified(
  contents: string,
  external: string[],
): Promise<{ code: Uint8Array; metafile: esbuild.Metafile }> {
  const result = await esbuild.build({
    stdin: { contents, resolveDir: root, loader: 'ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    metafile: true,
    external,
    logLevel: 'error',
  });
  return { code: result.outputFiles[0]!.contents, metafile: result.metafile };
}

const gzipped = (code: Uint8Array): number => gzipSync(code, { level: 9 }).length;
const kb = (bytes: number): string => `${(bytes / 1000).toFixed(2)} kB`;

const entry = `export ${check!.import} from './src/index.ts';`;
const own = await minified(entry, DEPENDENCIES);
const whole = await minified(entry, []);
const [output] = Object.values(own.metafile.outputs);
const modules = Object.entries(output!.inputs)
  .map(([path, { bytesInOutput }]) => ({ path: relative(root, path), bytes: bytesInOutput }))
  .filter(({ bytes }) => bytes > 0)
  .sort((a, b) => b.bytes - a.bytes);

console.log(`import ${check!.import}\n`);
console.log('| own module | minified bytes | share |');
console.log('| --- | ---: | ---: |');
for (const { path, bytes } of modules) {
  console.log(`| ${path} | ${bytes} | ${((100 * bytes) / own.code.length).toFixed(1)}% |`);
}
console.log(`\nown code: ${kb(own.code.length)} minified, ${kb(gzipped(own.code))} min+gzip`);

console.log('\n| dependency (alone) | min+gzip |');
console.log('| --- | ---: |');
const used: Record<string, string> = {
  ky: "import ky from 'ky'; export { ky };",
  'p-queue': "import PQueue from 'p-queue'; export { PQueue };",
  mitt: "import mitt from 'mitt'; export { mitt };",
  jose: "export { decodeJwt } from 'jose';",
};
for (const name of DEPENDENCIES) console.log(`| ${name} | ${kb(gzipped((await minified(used[name]!, [])).code))} |`);
console.log(`\nwhole bundle: ${kb(whole.code.length)} minified, ${kb(gzipped(whole.code))} min+gzip`);
