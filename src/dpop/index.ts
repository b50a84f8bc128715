// The DPoP module's public surface, published as `session-keeper/dpop` (src/dpop.ts).
export { dpop } from './dpop.ts';
export { isNonceChallenge } from './challenge.ts';
export { defaultKeyStore, indexedDbKeyStore, memoryKeyStore } from './key-store.ts';
export { generateDpopKeys } from './keys.ts';
export type { Dpop, DpopContext, DpopKeyStore, DpopOptions, DpopPort, DpopSigner, DpopSignerStore } from './types.ts';
