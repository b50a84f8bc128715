/**
 * `npm run docs:snippets`: type-checks every ```ts block of the READMEs against the built
 * package. The iOS example's README needs the example installed
 * (`npm ci --prefix examples/ios-capacitor`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { extractSnippets, READMES, ROOT, typecheck } from './snippets.ts';

let failed = false;
for (const readme of READMES) {
  if (readme.base !== '.' && !existsSync(join(ROOT, readme.base, 'node_modules'))) {
    console.error(
      `${readme.file}: its blocks compile against ${readme.base}'s packages, which are not installed: run \`npm ci --prefix ${readme.base}\``,
    );
    failed = true;
    continue;
  }
  const errors = typecheck(readme);
  const count = extractSnippets(readme).length;
  for (const error of errors) console.error(`${error.where}: ${error.message}`);
  console.log(
    `${readme.file}: ${count} TypeScript block(s), ${errors.length === 0 ? 'all compile' : `${errors.length} error(s)`}`,
  );
  if (errors.length > 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
