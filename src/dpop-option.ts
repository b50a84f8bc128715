import type { Dpop, DpopContext, DpopOptions, DpopPort } from './dpop/types.ts';
import { ConfigurationError } from './errors.ts';

/** What the `dpop` option takes: `true`, options for the built-in handle, or a handle from `dpop()`. */
export type DpopOption = boolean | DpopOptions | Dpop;

const isHandle = (value: object): value is Dpop => typeof (value as Partial<Dpop>).bind === 'function';

const METHODS = { keyStore: ['load', 'save', 'clear'], signer: ['load', 'create', 'clear'] } as const;

/** Checks where the key comes from: a `keyStore` or a `signer` (each with its methods), not both. */
export function checkKeyOptions(options: DpopOptions): void {
  if (options.keyStore !== undefined && options.signer !== undefined)
    throw new ConfigurationError('"dpop" takes a keyStore or a signer, not both');
  for (const name of ['keyStore', 'signer'] as const) {
    const port = options[name] as Record<string, unknown> | null | undefined;
    if (port === undefined) continue;
    for (const method of METHODS[name]) {
      if (typeof port?.[method] !== 'function') throw new ConfigurationError(`"dpop.${name}" must have ${method}()`);
    }
  }
}

/**
 * The session's DPoP port, or `undefined` when DPoP is off. For `true` and for plain options
 * the DPoP code is imported on first use: apps that leave DPoP off never load it, and apps
 * that turn it on with `true` load it once, when the first proof is needed.
 */
export function resolveDpop(option: DpopOption | undefined, context: DpopContext): DpopPort | undefined {
  if (option === undefined || option === false) return undefined;
  if (option !== true && (typeof option !== 'object' || option === null)) {
    throw new ConfigurationError(
      '"dpop" must be true, { keyStore }, { signer }, or a handle made by dpop() from session-keeper/dpop',
    );
  }
  if (option !== true && isHandle(option)) return option.bind(context);
  const options = option === true ? {} : option;
  checkKeyOptions(options);
  let loaded: DpopPort | undefined;
  let loading: Promise<DpopPort> | undefined;
  const load = () => (loading ??= import('./dpop/dpop.ts').then(({ dpop }) => (loaded = dpop(options).bind(context))));
  return {
    proof: async (...args) => (await load()).proof(...args),
    // Both only matter after a proof was sent, which loaded the code.
    observe: (url, response) => loaded?.observe(url, response),
    isNonceChallenge: (response) => loaded?.isNonceChallenge(response) ?? false,
    send: async (...args) => (await load()).send(...args),
    forgetKey: async () => (await load()).forgetKey(),
  };
}
