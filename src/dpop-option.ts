import type { Dpop, DpopContext, DpopOptions, DpopPort } from './dpop/types.ts';
import { ConfigurationError } from './errors.ts';

/** What the `dpop` option takes: `true`, options for the built-in handle, or a handle from `dpop()`. */
export type DpopOption = boolean | DpopOptions | Dpop;

const isHandle = (value: object): value is Dpop => typeof (value as Partial<Dpop>).bind === 'function';

/**
 * The session's DPoP port, or `undefined` when DPoP is off. For `true` and for plain options
 * the DPoP code is imported on first use: apps that leave DPoP off never load it, and apps
 * that turn it on with `true` load it once, when the first proof is needed.
 */
export function resolveDpop(option: DpopOption | undefined, context: DpopContext): DpopPort | undefined {
  if (option === undefined || option === false) return undefined;
  if (option !== true && (typeof option !== 'object' || option === null)) {
    throw new ConfigurationError(
      '"dpop" must be true, { keyStore }, or a handle made by dpop() from session-keeper/dpop',
    );
  }
  if (option !== true && isHandle(option)) return option.bind(context);
  const { keyStore } = option === true ? {} : option;
  if (keyStore !== undefined) {
    for (const method of ['load', 'save', 'clear'] as const) {
      if (typeof keyStore?.[method] !== 'function')
        throw new ConfigurationError(`"dpop.keyStore" must have ${method}()`);
    }
  }
  let loaded: DpopPort | undefined;
  let loading: Promise<DpopPort> | undefined;
  const load = () =>
    (loading ??= import('./dpop/dpop.ts').then(({ dpop }) => (loaded = dpop({ keyStore }).bind(context))));
  return {
    proof: async (...args) => (await load()).proof(...args),
    // Both only matter after a proof was sent, which loaded the code.
    observe: (url, response) => loaded?.observe(url, response),
    isNonceChallenge: (response) => loaded?.isNonceChallenge(response) ?? false,
    send: async (...args) => (await load()).send(...args),
    forgetKey: async () => (await load()).forgetKey(),
  };
}
