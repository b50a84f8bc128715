/**
 * Runs before `npm run test:browser`: installs the iOS example's packages when they are
 * missing or older than its lockfile, and checks that there is a Chromium to drive.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const example = join(root, 'examples/ios-capacitor');
const installed = join(example, 'node_modules/.package-lock.json');

if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(join(example, 'package-lock.json')).mtimeMs) {
  console.log('test:browser: installing the iOS example (npm ci --prefix examples/ios-capacitor)');
  execFileSync('npm', ['ci', '--prefix', example, '--no-audit', '--no-fund'], { stdio: 'inherit' });
}

const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(chromium)) {
  console.error(
    `test:browser: no Chromium at ${chromium}. Install it (Debian/Ubuntu: \`apt-get install -y chromium\`) or set CHROMIUM_PATH to a Chromium or Chrome binary.`,
  );
  process.exit(1);
}
