import { randomBytes, randomUUID, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';

type Cost = { N: number; r: number; p: number };

/**
 * scrypt costs. `standard` is one of the equivalent settings of the OWASP Password Storage
 * Cheat Sheet (N=2^14, r=8, p=5 costs as much CPU as N=2^17, r=8, p=1 but needs 16 MiB
 * instead of 128 MiB, so concurrent logins cannot exhaust memory). `low` is for tests only.
 */
export const PASSWORD_COSTS = {
  standard: { N: 2 ** 14, r: 8, p: 5 },
  low: { N: 2 ** 10, r: 8, p: 1 },
} as const satisfies Record<string, Cost>;

const KEY_LENGTH = 32;
const MAX_MEMORY = 64 * 1024 * 1024;

function scrypt(password: string, salt: Buffer, params: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password.normalize('NFKC'), salt, KEY_LENGTH, { ...params, maxmem: MAX_MEMORY }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

/**
 * Hashes and checks passwords as `scrypt$N$r$p$salt$hash` (base64url, random 16-byte
 * salt). Checks run in constant time, and an unknown user is checked against a dummy hash
 * of the same cost, so that an unknown user and a wrong password take the same path and
 * the same time.
 */
export class PasswordHasher {
  readonly #cost: Cost;
  #dummy: Promise<string> | undefined;

  constructor(cost: Cost = PASSWORD_COSTS.standard) {
    this.#cost = cost;
  }

  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const key = await scrypt(password, salt, this.#cost);
    const { N, r, p } = this.#cost;
    return ['scrypt', N, r, p, salt.toString('base64url'), key.toString('base64url')].join('$');
  }

  /** Checks `password` against `stored`, or against the dummy hash when there is no user. */
  async verify(password: string, stored: string | undefined): Promise<boolean> {
    const hash = stored ?? (await this.dummyHash());
    const [scheme, n, r, p, salt, expectedKey] = hash.split('$');
    if (scheme !== 'scrypt' || !n || !r || !p || !salt || !expectedKey) return false;
    const expected = Buffer.from(expectedKey, 'base64url');
    const actual = await scrypt(password, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p) });
    return stored !== undefined && expected.length === actual.length && timingSafeEqual(expected, actual);
  }

  /** The hash of a random password; computed once, ahead of the first login. */
  dummyHash(): Promise<string> {
    this.#dummy ??= this.hash(randomUUID());
    return this.#dummy;
  }
}
