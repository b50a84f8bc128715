/**
 * What DPoP costs in the steady state: session-keeper's ky client with and without DPoP, against
 * the reference server (examples/server, in its own process, DPoP on: it checks every proof and
 * binds tokens to the key), in one run. The client's CPU per request is the figure to read;
 * requests/s is bounded by the server, which verifies a JWT and, with DPoP, a proof per request.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { MemoryTokenStore, SessionManager, type TokenResponse } from 'session-keeper';
import { dpop, memoryKeyStore, type Dpop } from 'session-keeper/dpop';
import type { BenchClient } from './clients.ts';
import { median } from './stats.ts';

const CLIENT_ID = 'bench-dpop';

/** The reference server in a child process (bench/reference-server.ts). */
export class ReferenceServer {
  readonly url: string;
  readonly #child: ChildProcess;

  private constructor(url: string, child: ChildProcess) {
    this.url = url;
    this.#child = child;
  }

  static async start(): Promise<ReferenceServer> {
    const script = fileURLToPath(new URL('./reference-server.ts', import.meta.url));
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const url = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`reference server exited with ${code}`)));
      createInterface({ input: child.stdout! }).once('line', (line) =>
        resolve((JSON.parse(line) as { url: string }).url),
      );
    });
    return new ReferenceServer(url, child);
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.kill('SIGTERM');
    await exited;
  }
}

/** `POST /auth/login`, with a proof when `proofs` is given (and once more if it asks for a nonce). */
async function login(server: ReferenceServer, proofs?: Dpop): Promise<TokenResponse> {
  const url = `${server.url}/auth/login`;
  const send = async () => {
    const proof = await proofs?.proof('POST', url);
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(proof === undefined ? {} : { dpop: proof }) },
      body: JSON.stringify({ username: 'bench', password: 'bench-secret', client_id: CLIENT_ID }),
    });
    proofs?.observe(url, response);
    return { response, body: (await response.json()) as TokenResponse & { error?: string } };
  };
  let { response, body } = await send();
  if (proofs && response.status === 400 && body.error === 'use_dpop_nonce') ({ response, body } = await send());
  if (!response.ok) throw new Error(`sign-in: HTTP ${response.status} ${body.error ?? ''}`);
  return body;
}

export interface DpopBenchKind {
  name: string;
  setup: string;
  create(server: ReferenceServer): Promise<BenchClient>;
}

let keys = 0;

async function sessionClient(server: ReferenceServer, withDpop: boolean): Promise<BenchClient> {
  const proofs = withDpop ? dpop({ keyStore: memoryKeyStore(`bench-${++keys}`) }) : undefined;
  const session = new SessionManager({
    tokenEndpoint: `${server.url}/oauth/token`,
    clientId: CLIENT_ID,
    store: new MemoryTokenStore(),
    ...(proofs ? { dpop: proofs } : {}),
  });
  await session.setTokens(await login(server, proofs));
  const api = session.createClient({ prefix: `${server.url}/api` });
  return { get: (path) => api.get(path).json(), dispose: () => session.dispose() };
}

export const bearerSession: DpopBenchKind = {
  name: 'session-keeper, Bearer',
  setup: '`new SessionManager({ tokenEndpoint, clientId })` + `createClient({ prefix })`, signed in without a proof',
  create: (server) => sessionClient(server, false),
};

export const dpopSession: DpopBenchKind = {
  name: 'session-keeper, DPoP',
  setup:
    'the same with `dpop: dpop({ keyStore: memoryKeyStore(name) })` (a P-256 WebCrypto key), signed in with a proof: every request carries `Authorization: DPoP` and a fresh proof (`ath`, `jti`)',
  create: (server) => sessionClient(server, true),
};

/**
 * The CPU time of one resource-request proof alone (`proof(method, url, { accessToken })`:
 * `ath` hash, JWS, ES256 signature), in µs: `perRound` proofs made by `concurrency` workers (as
 * the steady state sends its requests) for one access token, the median of `rounds` rounds
 * after one discarded.
 */
export async function proofCpuUs(rounds: number, perRound: number, concurrency: number): Promise<number> {
  const proofs = dpop({ keyStore: memoryKeyStore(`bench-proof-${++keys}`) });
  // One token, as the requests of one token generation carry (the size of the reference server's).
  const accessToken = 'a'.repeat(600);
  const round = async () => {
    let next = 0;
    const start = process.cpuUsage();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < perRound) {
          next++;
          await proofs.proof('GET', 'http://127.0.0.1/api/items', { accessToken });
        }
      }),
    );
    const used = process.cpuUsage(start);
    return (used.user + used.system) / perRound;
  };
  await round(); // warm-up: the key, the JIT
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) samples.push(await round());
  return median(samples);
}
