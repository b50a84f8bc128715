#!/usr/bin/env bash
# The packed tarball, installed into an empty project, works as users import it.
set -euo pipefail
cd "$(dirname "$0")/.."
tarball=$(npm pack --silent | tail -1)
dir=$(mktemp -d)
trap 'rm -rf "$dir" "$tarball"' EXIT
cp "$tarball" "$dir/"
cd "$dir"
npm init -y >/dev/null
npm pkg set type=module
npm install --prefer-offline --no-audit --no-fund "./$tarball" node@24 >/dev/null
cat > smoke.js <<'JS'
import { SessionManager, MemoryTokenStore, SessionExpiredError } from 'session-keeper';
import { ManualClock } from 'session-keeper/testing';
const session = new SessionManager({
  tokenEndpoint: 'https://auth.example/oauth/token',
  clientId: 'smoke',
  store: new MemoryTokenStore(),
  clock: new ManualClock(),
});
await session.setTokens({ access_token: 'a', expires_in: 3600, refresh_token: 'r' });
if (session.state !== 'active' || (await session.getAccessToken()) !== 'a') throw new Error('not active');
if (typeof session.createClient({ prefix: 'https://api.example/v1' }).get !== 'function') throw new Error('no ky client');
await session.signOut();
await session.getAccessToken().then(
  () => { throw new Error('expected SessionExpiredError'); },
  (error) => { if (!(error instanceof SessionExpiredError)) throw error; },
);
const { FileTokenStore } = await import('session-keeper/node');
const { mkdtempSync, statSync } = await import('node:fs');
const { join } = await import('node:path');
const { tmpdir } = await import('node:os');
const file = join(mkdtempSync(join(tmpdir(), 'sk-smoke-')), 'session.json');
const durable = new FileTokenStore(file);
const onDisk = new SessionManager({ tokenEndpoint: 'https://auth.example/oauth/token', clientId: 'smoke', store: durable, lock: durable.lock, clock: new ManualClock() });
await onDisk.setTokens({ access_token: 'a', expires_in: 3600, refresh_token: 'r' });
if ((await durable.load())?.refreshToken !== 'r' || (statSync(file).mode & 0o777) !== 0o600) throw new Error('FileTokenStore did not keep the session');
onDisk.dispose();
console.log('pack smoke: the installed tarball works (' + process.version + ')');
JS
npx node smoke.js
