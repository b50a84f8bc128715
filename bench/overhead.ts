/**
 * The clients' own CPU cost per request, without the network. Every client sends through an
 * in-process `fetch` that answers 200 at once with no body, so what is left is the client's
 * code: the token lookup, the origin check, the headers, the retry wrapper. A loopback request
 * costs the client process 100 to 250 µs of CPU on this machine, so a difference of a few
 * µs here is below what the steady-state table can resolve; this table shows it.
 */
import ky from 'ky';
import { MemoryTokenStore, SessionManager } from 'session-keeper';

const ORIGIN = 'https://api.bench.test';
const URL_ITEMS = `${ORIGIN}/v1/items`;
/** An access token of a usual length (an ES256 JWT is 300 to 800 characters). */
const TOKEN = `${'x'.repeat(40)}.${'y'.repeat(400)}.${'z'.repeat(86)}`;
const AUTHORIZATION = { authorization: `Bearer ${TOKEN}` };
const CONCURRENCY = 50;

interface OverheadCase {
  name: string;
  /** What the client is measured against: the `fetch` stand-in called directly, or raw ky over it. */
  baseline: string;
  send: () => Promise<unknown>;
}

export interface OverheadResult {
  name: string;
  /** The case this one is compared with (`''`: a baseline itself). */
  baseline: string;
  /** CPU per call, in ns, one value per repetition. */
  nsPerCall: number[];
}

/** CPU per call of each case: `calls` calls at concurrency 50, `reps` times, the order rotated. */
export async function measureOverhead(calls: number, reps: number): Promise<OverheadResult[]> {
  // The same answer every time: a Response without a body can be handed out again and again.
  const answer = new Response(null, { status: 200 });
  const stub: typeof globalThis.fetch = () => Promise.resolve(answer);
  const session = new SessionManager({
    tokenEndpoint: `${ORIGIN}/oauth/token`,
    clientId: 'bench',
    store: new MemoryTokenStore(),
    trustedOrigins: [ORIGIN],
    fetch: stub,
    broadcast: false,
  });
  await session.setTokens({ access_token: TOKEN, token_type: 'Bearer', expires_in: 3600, refresh_token: 'r' });
  const client = session.createClient({ prefix: `${ORIGIN}/v1`, fetch: stub, retry: 0 });
  const rawKy = ky.create({ prefix: `${ORIGIN}/v1`, fetch: stub, retry: 0, headers: AUTHORIZATION });
  const json = JSON.stringify({ name: 'item' });

  const cases: OverheadCase[] = [
    { name: '`fetch` stand-in called directly', baseline: '', send: () => stub(URL_ITEMS, { headers: AUTHORIZATION }) },
    { name: 'session.fetch GET', baseline: '`fetch` stand-in called directly', send: () => session.fetch(URL_ITEMS) },
    {
      name: 'session.fetch GET, headers record',
      baseline: '`fetch` stand-in called directly',
      send: () => session.fetch(URL_ITEMS, { headers: { accept: 'application/json' } }),
    },
    {
      name: 'session.fetch POST, JSON body',
      baseline: '`fetch` stand-in called directly',
      send: () =>
        session.fetch(URL_ITEMS, { method: 'POST', body: json, headers: { 'content-type': 'application/json' } }),
    },
    { name: 'raw ky GET', baseline: '', send: () => rawKy.get('items') },
    { name: 'session-keeper ky client GET', baseline: 'raw ky GET', send: () => client.get('items') },
  ];

  const run = async (send: () => Promise<unknown>, n: number): Promise<number> => {
    let next = 0;
    const start = process.cpuUsage();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next++ < n) await send();
      }),
    );
    const used = process.cpuUsage(start);
    return ((used.user + used.system) * 1000) / n;
  };

  for (const c of cases) await run(c.send, calls); // warm-up, discarded
  const results = cases.map(({ name, baseline }): OverheadResult => ({ name, baseline, nsPerCall: [] }));
  for (let rep = 0; rep < reps; rep++) {
    const k = rep % cases.length;
    for (const i of cases.keys()) {
      const index = (i + k) % cases.length;
      const { send } = cases[index]!;
      // Untimed first: the garbage the case before left (ky leaves much) is collected here.
      await run(send, calls / 4);
      results[index]!.nsPerCall.push(await run(send, calls));
    }
  }
  session.dispose();
  return results;
}
