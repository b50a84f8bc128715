/**
 * DPoP (RFC 9449) sender-constrained tokens for session-keeper:
 * `import { dpop } from 'session-keeper/dpop'`. Apps that do not import it (and do not set
 * `dpop: true`) never load this code.
 * @packageDocumentation
 */
export { dpop } from './dpop.ts';
export { isNonceChallenge } from './challenge.ts';
export { defaultKeyStore, indexedDbKeyStore, memoryKeyStore } from './key-store.ts';
export { generateDpopKeys } from './keys.ts';
export { createProof, htuOf, athOf, type ProofClaims } from './proof.ts';
export type { Dpop, DpopContext, DpopKeyStore, DpopOptions, DpopPort } from './types.ts';
