/**
 * The global `fetch`, looked up at call time: one replaced after the manager was made (a test's
 * mock, an app's instrumentation) is the one used. The default of every `fetch` option.
 */
export const globalFetch: typeof globalThis.fetch = (input, init) => globalThis.fetch(input, init);
