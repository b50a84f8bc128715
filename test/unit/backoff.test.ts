/**
 * The backoff between transient failures: capped exponential growth, "equal jitter" (half the
 * delay fixed, half drawn from the injected `random`), and a server's Retry-After that lengthens
 * the wait but never shortens it.
 */
import { describe, expect, it } from 'vitest';
import { backoffDelay, defaultBackoff } from '../../src/refresh/backoff.ts';

const BACKOFF = { initialDelay: 1000, maxDelay: 60_000 };

describe('defaultBackoff', () => {
  it('starts at one second and stops growing at one minute', () => {
    expect(defaultBackoff).toEqual({ initialDelay: 1000, maxDelay: 60_000 });
  });
});

describe('backoffDelay', () => {
  it('waits half the initial delay, plus the jitter share of the other half, on the first retry', () => {
    expect(backoffDelay(1, BACKOFF, 0)).toBe(500);
    expect(backoffDelay(1, BACKOFF, 0.5)).toBe(750);
    expect(backoffDelay(1, BACKOFF, 0.25)).toBe(625);
    expect(backoffDelay(1, BACKOFF, 0.999)).toBe(999.5);
  });

  it('doubles the delay with each attempt', () => {
    expect(backoffDelay(2, BACKOFF, 0)).toBe(1000);
    expect(backoffDelay(2, BACKOFF, 0.5)).toBe(1500);
    expect(backoffDelay(3, BACKOFF, 0)).toBe(2000);
    expect(backoffDelay(4, BACKOFF, 0.5)).toBe(6000);
  });

  it('scales with the initial delay', () => {
    expect(backoffDelay(1, { initialDelay: 200, maxDelay: 60_000 }, 0)).toBe(100);
    expect(backoffDelay(3, { initialDelay: 200, maxDelay: 60_000 }, 0.5)).toBe(600);
  });

  it('treats an attempt number below 1 like the first retry', () => {
    expect(backoffDelay(0, BACKOFF, 0)).toBe(500);
    expect(backoffDelay(-3, BACKOFF, 0.5)).toBe(750);
  });

  it('never grows past maxDelay, jitter included', () => {
    const capped = { initialDelay: 1000, maxDelay: 3000 };
    expect(backoffDelay(3, capped, 0)).toBe(1500);
    expect(backoffDelay(3, capped, 0.5)).toBe(2250);
    expect(backoffDelay(30, BACKOFF, 0)).toBe(30_000);
    expect(backoffDelay(30, BACKOFF, 0.999)).toBeLessThan(60_000);
    expect(backoffDelay(30, BACKOFF, 1)).toBe(60_000);
  });

  it('honours a Retry-After longer than the backoff, two digits of seconds included', () => {
    // Retry-After: 30 (seconds) arrives here as 30 000 ms.
    expect(backoffDelay(1, BACKOFF, 0.5, 30_000)).toBe(30_000);
    expect(backoffDelay(1, BACKOFF, 0, 7000)).toBe(7000);
    expect(backoffDelay(2, BACKOFF, 0.5, 1501)).toBe(1501);
  });

  it('caps a Retry-After at maxDelay', () => {
    expect(backoffDelay(1, BACKOFF, 0.5, 120_000)).toBe(60_000);
    expect(backoffDelay(1, { initialDelay: 1000, maxDelay: 5000 }, 0, 5001)).toBe(5000);
  });

  it('never waits less than the backoff for a short (or zero) Retry-After', () => {
    expect(backoffDelay(1, BACKOFF, 0, 0)).toBe(500);
    expect(backoffDelay(4, BACKOFF, 0, 1000)).toBe(4000);
    expect(backoffDelay(2, BACKOFF, 0.5, 1499)).toBe(1500);
  });
});
