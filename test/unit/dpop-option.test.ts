/**
 * The `dpop` option (src/dpop-option.ts): what it accepts and refuses, a handle from `dpop()`
 * bound to the session, and the port that loads the DPoP code on first use and then keeps using
 * that one handle (its key, its nonces).
 */
import { decodeJwt, decodeProtectedHeader, calculateJwkThumbprint } from 'jose';
import { describe, expect, it } from 'vitest';
import { resolveDpop } from '../../src/dpop-option.ts';
import { memoryKeyStore } from '../../src/dpop/key-store.ts';
import type { Dpop, DpopContext, DpopKeyStore } from '../../src/dpop/types.ts';
import { ConfigurationError } from '../../src/errors.ts';
import { inProcessLock } from '../../src/ports/lock.ts';
import { silentLogger } from '../../src/ports/logger.ts';
import { ManualClock } from '../../src/testing.ts';

let names = 0;
const context = (): DpopContext => ({
  clock: new ManualClock(),
  lock: inProcessLock(),
  lockName: `dpop-option-${++names}`,
  logger: silentLogger,
});

const challenge = () =>
  new Response(null, {
    status: 401,
    headers: { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': 'n-1' },
  });
const withNonce = (nonce: string) => new Response(null, { status: 200, headers: { 'dpop-nonce': nonce } });
const thumbprintOf = (proof: string) => calculateJwkThumbprint(decodeProtectedHeader(proof).jwk!);

describe('the dpop option: what it takes', () => {
  it.each([[undefined], [false]])('%j turns DPoP off', (option) => {
    expect(resolveDpop(option, context())).toBeUndefined();
  });

  it.each([['yes'], [1], [null], [() => {}]])('refuses %j with a message that says what it takes', (option) => {
    expect(() => resolveDpop(option as never, context())).toThrow(
      new ConfigurationError(
        '"dpop" must be true, { keyStore }, { signer }, or a handle made by dpop() from session-keeper/dpop',
      ),
    );
  });

  it.each([
    [{}, 'load'],
    [{ load() {} }, 'save'],
    [{ load() {}, save() {} }, 'clear'],
    [{ load() {}, save: 'no', clear() {} }, 'save'],
    [null, 'load'],
  ])('refuses the key store %j, naming the method it lacks', (keyStore, method) => {
    expect(() => resolveDpop({ keyStore: keyStore as never }, context())).toThrow(
      new ConfigurationError(`"dpop.keyStore" must have ${method}()`),
    );
  });

  it('binds a handle made by dpop() to the session, and uses the port that gives back', () => {
    const port = { proof: async () => 'bound' };
    const bound: DpopContext[] = [];
    const handle = { bind: (next: DpopContext) => (bound.push(next), port) } as unknown as Dpop;
    const ctx = context();
    expect(resolveDpop(handle, ctx)).toBe(port);
    expect(bound).toEqual([ctx]);
  });
});

describe('the dpop option: the port that loads on first use', () => {
  it('before its first proof, learns nothing and sees no nonce challenge', async () => {
    const ctx = context();
    const port = resolveDpop(true, ctx)!;
    port.observe('https://api.test/x', withNonce('early'));
    expect(port.isNonceChallenge(challenge())).toBe(false);
    const proof = (await port.proof('GET', 'https://api.test/x'))!;
    expect(decodeJwt(proof).nonce).toBeUndefined();
    expect(port.isNonceChallenge(challenge())).toBe(true);
  });

  it('after its first proof, keeps one handle: the same key, the nonces it observed', async () => {
    const port = resolveDpop(true, context())!;
    const first = (await port.proof('GET', 'https://api.test/x'))!;
    port.observe('https://api.test/x', withNonce('n-2'));
    const [second, third] = await Promise.all([
      port.proof('GET', 'https://api.test/y'),
      port.proof('GET', 'https://api.test/z'),
    ]);
    expect(decodeJwt(second!).nonce).toBe('n-2');
    expect(decodeJwt(third!).nonce).toBe('n-2');
    expect(new Set(await Promise.all([first, second!, third!].map(thumbprintOf))).size).toBe(1);
  });

  it('with true, keeps the key in memory under the session lock name, and forgetKey deletes it', async () => {
    const ctx = context();
    const port = resolveDpop(true, ctx)!;
    const proof = (await port.proof('POST', 'https://auth.test/token'))!;
    const stored = memoryKeyStore(`${ctx.lockName}:dpop`);
    expect(await stored.load()).toBeDefined();
    await port.forgetKey();
    expect(await stored.load()).toBeUndefined();
    expect(await thumbprintOf((await port.proof('POST', 'https://auth.test/token'))!)).not.toBe(
      await thumbprintOf(proof),
    );
  });

  it('with { keyStore }, keeps the key there', async () => {
    const saved: CryptoKeyPair[] = [];
    const keyStore: DpopKeyStore = { load: () => saved.at(-1), save: (keys) => void saved.push(keys), clear() {} };
    await resolveDpop({ keyStore }, context())!.proof('GET', 'https://api.test/');
    expect(saved).toHaveLength(1);
    expect(await memoryKeyStore(`dpop-option-${names}:dpop`).load()).toBeUndefined();
  });

  it('with {}, uses the default key store', async () => {
    const ctx = context();
    await resolveDpop({}, ctx)!.proof('GET', 'https://api.test/');
    expect(await memoryKeyStore(`${ctx.lockName}:dpop`).load()).toBeDefined();
  });

  it('sends a request with Authorization: DPoP and a proof, as its first use', async () => {
    const port = resolveDpop(true, context())!;
    const seen: Request[] = [];
    const response = await port.send(
      new Request('https://api.test/items?x=1', { headers: { authorization: 'Bearer tok' } }),
      undefined,
      async (input) => (seen.push(input as Request), new Response('ok')),
    );
    expect(await response.text()).toBe('ok');
    expect(seen[0]!.headers.get('authorization')).toBe('DPoP tok');
    expect(decodeJwt(seen[0]!.headers.get('dpop')!)).toMatchObject({ htm: 'GET', htu: 'https://api.test/items' });
  });

  it('forgetKey as its first use clears the key store', async () => {
    let clears = 0;
    const keyStore: DpopKeyStore = { load: () => undefined, save() {}, clear: () => void clears++ };
    await resolveDpop({ keyStore }, context())!.forgetKey();
    expect(clears).toBe(1);
  });
});
