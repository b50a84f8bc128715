/**
 * The RFC 7523 assertion a device key signs after the biometric prompt: header, claims and
 * lifetime, verified with the public key as the server would.
 */
import { decodeProtectedHeader, generateKeyPair, jwtVerify, type JWTPayload } from 'jose';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDeviceKeyAssertion } from '../../src/device-key.ts';
import { NOW } from './builders.ts';

const request = { audience: 'https://auth.test/oauth/token', clientId: 'app', subject: 'alice' };
let keys: CryptoKeyPair;

beforeAll(async () => {
  keys = await generateKeyPair('ES256');
});

afterEach(() => {
  vi.useRealTimers();
});

/** Verifies as the server would, at the assertion's own issue time. */
async function verified(jwt: string): Promise<JWTPayload> {
  const { payload } = await jwtVerify(jwt, keys.publicKey, {
    algorithms: ['ES256'],
    currentDate: new Date(NOW + 1000),
  });
  return payload;
}

describe('createDeviceKeyAssertion', () => {
  it('signs with the device key, naming it in an ES256 JWT header', async () => {
    const jwt = await createDeviceKeyAssertion(keys.privateKey, 'kid-1', request, { now: NOW });
    expect(decodeProtectedHeader(jwt)).toEqual({ alg: 'ES256', kid: 'kid-1', typ: 'JWT' });
    await expect(verified(jwt)).resolves.toBeDefined();
  });

  it('is issued by the client, for the token endpoint, about the user, for 60 seconds', async () => {
    const payload = await verified(await createDeviceKeyAssertion(keys.privateKey, 'kid-1', request, { now: NOW }));
    expect(payload).toEqual({
      iss: 'app',
      aud: 'https://auth.test/oauth/token',
      sub: 'alice',
      iat: NOW / 1000,
      exp: NOW / 1000 + 60,
      jti: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
    });
  });

  it('names no subject when the user is unknown', async () => {
    const payload = await verified(
      await createDeviceKeyAssertion(keys.privateKey, 'kid-1', { ...request, subject: undefined }, { now: NOW }),
    );
    expect(payload).not.toHaveProperty('sub');
  });

  it('lives as long as asked', async () => {
    const payload = await verified(
      await createDeviceKeyAssertion(keys.privateKey, 'kid-1', request, { now: NOW, lifetimeSeconds: 30 }),
    );
    expect(payload.exp! - payload.iat!).toBe(30);
  });

  it('counts issue time in whole seconds, rounded down', async () => {
    const payload = await verified(
      await createDeviceKeyAssertion(keys.privateKey, 'kid-1', request, { now: NOW + 999 }),
    );
    expect(payload.iat).toBe(NOW / 1000);
  });

  it('takes the issue time from the system clock by default', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: NOW });
    const payload = await verified(await createDeviceKeyAssertion(keys.privateKey, 'kid-1', request));
    expect(payload.iat).toBe(NOW / 1000);
  });

  it('carries a fresh jti each time, so the server can refuse a replay', async () => {
    const first = await verified(await createDeviceKeyAssertion(keys.privateKey, 'kid-1', request, { now: NOW }));
    const second = await verified(await createDeviceKeyAssertion(keys.privateKey, 'kid-1', request, { now: NOW }));
    expect(first.jti).not.toBe(second.jti);
  });
});
