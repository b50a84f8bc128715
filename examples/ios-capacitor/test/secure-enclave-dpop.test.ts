/**
 * The Secure Enclave plug-in point (src/adapters/secure-enclave-dpop.ts) against the SDK's
 * signer port, on Node.js. The native plugin is not part of the example: a test double stands
 * in for it here, a non-extractable WebCrypto P-256 key that only the double can use, speaking
 * the plugin's interface (base64url in and out, `{ key: null }` when there is none).
 */
import { EmbeddedJWK, jwtVerify } from 'jose';
import { dpop } from 'session-keeper/dpop';
import { describe, expect, it } from 'vitest';
import {
  dpopKeyOption,
  secureEnclaveSigner,
  type EnclavePublicKey,
  type SecureEnclaveDpopPlugin,
} from '../src/adapters/secure-enclave-dpop.ts';

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

/** The plugin's interface over a key only it holds, with counts of the calls. */
function pluginDouble() {
  let key: { pair: CryptoKeyPair; public: EnclavePublicKey } | undefined;
  const calls = { getKey: 0, createKey: 0, sign: 0, deleteKey: 0 };
  const signedInputs: string[] = [];
  const plugin: SecureEnclaveDpopPlugin & { calls: typeof calls; signedInputs: string[]; locked: boolean } = {
    calls,
    signedInputs,
    locked: false,
    async getKey() {
      calls.getKey++;
      if (plugin.locked) throw new Error('errSecInteractionNotAllowed');
      return { key: key?.public ?? null };
    },
    async createKey() {
      calls.createKey++;
      const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
      const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey)); // 0x04 || X || Y
      key = { pair, public: { x: b64url(raw.slice(1, 33)), y: b64url(raw.slice(33)) } };
      return { key: key.public };
    },
    async sign({ data }) {
      calls.sign++;
      if (!key) throw new Error('no key');
      signedInputs.push(Buffer.from(data, 'base64url').toString('latin1'));
      const signature = await crypto.subtle.sign(
        { name: 'ECDSA', hash: 'SHA-256' },
        key.pair.privateKey,
        Buffer.from(data, 'base64url'),
      );
      return { signature: b64url(new Uint8Array(signature)) };
    },
    async deleteKey() {
      calls.deleteKey++;
      key = undefined;
    },
  };
  return plugin;
}

describe('the Secure Enclave plug-in point', () => {
  it('signs the SDK’s proofs through the plugin: they verify against the key the plugin reports', async () => {
    const plugin = pluginDouble();
    const proofs = dpop({ signer: secureEnclaveSigner(plugin) });

    const proof = (await proofs.proof('POST', 'https://auth.example.com/oauth/token'))!;

    const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt' });
    const reported = (await plugin.getKey()).key!;
    expect(protectedHeader.jwk).toEqual({ kty: 'EC', crv: 'P-256', ...reported });
    expect(payload).toMatchObject({ htm: 'POST', htu: 'https://auth.example.com/oauth/token' });
    expect(plugin.signedInputs, 'the plugin signed the JWS signing input').toEqual([
      proof.split('.').slice(0, 2).join('.'),
    ]);
    expect(plugin.calls.createKey).toBe(1);
  });

  it('a locked Keychain fails the proof and makes no new key; unlocked, the old key signs', async () => {
    const plugin = pluginDouble();
    const proofs = dpop({ signer: secureEnclaveSigner(plugin) });
    const before = await proofs.thumbprint();

    plugin.locked = true;
    await expect(proofs.proof('POST', 'https://auth.example.com/oauth/token')).rejects.toThrow(
      'errSecInteractionNotAllowed',
    );
    plugin.locked = false;

    expect(plugin.calls.createKey).toBe(1);
    await proofs.proof('POST', 'https://auth.example.com/oauth/token');
    expect(await proofs.thumbprint()).toBe(before);
  });

  it('sign-out deletes the enclave key', async () => {
    const plugin = pluginDouble();
    const proofs = dpop({ signer: secureEnclaveSigner(plugin) });
    await proofs.thumbprint();
    await proofs.forgetKey();
    expect(plugin.calls.deleteKey).toBe(1);
    expect((await plugin.getKey()).key).toBeNull();
  });

  it('the app uses the enclave only when the native plugin is registered, else the WebCrypto default', () => {
    expect(dpopKeyOption(() => false)).toEqual({});
    expect(dpopKeyOption((name) => name === 'SecureEnclaveDpop').signer).toBeDefined();
    expect(dpopKeyOption(), 'no native plugin ships with the example').toEqual({});
  });
});
