/**
 * The lifecycle and network ports' defaults, on a stubbed `document`, `window` and
 * `navigator` (their real browser behaviour is tested in Chromium), and the setup-function
 * constructors.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLifecycle, visibilityLifecycle } from '../../src/ports/lifecycle.ts';
import { browserNetwork, createNetwork } from '../../src/ports/network.ts';

afterEach(() => {
  vi.unstubAllGlobals();
});

/** A `document` whose visibility the test sets. */
function stubDocument() {
  const doc = Object.assign(new EventTarget(), { visibilityState: 'hidden' as DocumentVisibilityState });
  vi.stubGlobal('document', doc);
  return {
    show() {
      doc.visibilityState = 'visible';
      doc.dispatchEvent(new Event('visibilitychange'));
    },
    hide() {
      doc.visibilityState = 'hidden';
      doc.dispatchEvent(new Event('visibilitychange'));
    },
  };
}

describe('createLifecycle', () => {
  it('subscribes through the setup function and returns its cleanup', () => {
    const cleanup = () => {};
    const setups: (() => void)[] = [];
    const lifecycle = createLifecycle((onForeground) => (setups.push(onForeground), cleanup));
    const onForeground = () => {};
    expect(lifecycle.subscribe(onForeground)).toBe(cleanup);
    expect(setups).toEqual([onForeground]);
  });
});

describe('visibilityLifecycle', () => {
  it('does nothing where there is no document (Node.js)', () => {
    vi.stubGlobal('document', undefined);
    expect(() => visibilityLifecycle.subscribe(() => {})()).not.toThrow();
  });

  it('calls back when the page becomes visible, not when it is hidden', () => {
    const page = stubDocument();
    let foregrounds = 0;
    visibilityLifecycle.subscribe(() => foregrounds++);
    page.hide();
    expect(foregrounds).toBe(0);
    page.show();
    expect(foregrounds).toBe(1);
  });

  it('stops calling back once its cleanup ran', () => {
    const page = stubDocument();
    let foregrounds = 0;
    const stop = visibilityLifecycle.subscribe(() => foregrounds++);
    stop();
    page.show();
    expect(foregrounds).toBe(0);
  });
});

describe('createNetwork', () => {
  it('asks the status getter and subscribes through the setup function', () => {
    let online = false;
    const cleanup = () => {};
    const network = createNetwork(
      () => online,
      () => cleanup,
    );
    expect(network.isOnline()).toBe(false);
    online = true;
    expect(network.isOnline()).toBe(true);
    expect(network.subscribe(() => {})).toBe(cleanup);
  });
});

describe('browserNetwork', () => {
  it.each([
    ['no navigator', undefined, true],
    ['a navigator without onLine', {}, true],
    ['navigator.onLine true', { onLine: true }, true],
    ['navigator.onLine false', { onLine: false }, false],
  ])('with %s is online: %s', (_, navigator, online) => {
    vi.stubGlobal('navigator', navigator);
    expect(browserNetwork.isOnline()).toBe(online);
  });

  it('does nothing where there is no window (Node.js)', () => {
    vi.stubGlobal('window', undefined);
    expect(() => browserNetwork.subscribe(() => {})()).not.toThrow();
  });

  it("calls back on the window's online event until its cleanup ran", () => {
    const target = new EventTarget();
    vi.stubGlobal('window', target);
    let onlines = 0;
    const stop = browserNetwork.subscribe(() => onlines++);
    target.dispatchEvent(new Event('offline'));
    target.dispatchEvent(new Event('online'));
    stop();
    target.dispatchEvent(new Event('online'));
    expect(onlines).toBe(1);
  });
});
