import type { Clock } from '../ports/clock.ts';

/**
 * The servers' time, estimated from the `Date` header of their responses: a proof's `iat` is
 * the one place where a wrong device clock matters, and a device set hours off would otherwise
 * see every proof refused. Kept per origin; an origin not heard from yet gets the latest
 * estimate of any origin (servers' clocks agree with each other far better than with devices).
 */
export class ServerClock {
  readonly #clock: Clock;
  readonly #offsets = new Map<string, number>();
  #latest = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** The server's time now, in ms, for a request to `url`. */
  now(url: string): number {
    return this.#clock.now() + (this.#offsets.get(new URL(url).origin) ?? this.#latest);
  }

  /** Learns the offset from a response's `Date`; a cached answer (with `Age`) says nothing about now. */
  update(url: string, response: Response): void {
    const date = response.headers.get('date');
    if (date === null || response.headers.has('age')) return;
    const serverTime = Date.parse(date);
    if (Number.isNaN(serverTime)) return;
    // `Date` has a resolution of one second: the server's time was somewhere in that second.
    const offset = serverTime + 500 - this.#clock.now();
    this.#offsets.set(new URL(url).origin, offset);
    this.#latest = offset;
  }
}
