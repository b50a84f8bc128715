/**
 * DPoP (RFC 9449) sender-constrained tokens: `import { dpop } from 'session-keeper/dpop'`.
 * Apps that do not import it (and do not set `dpop: true`) never load this code.
 * @packageDocumentation
 * @module session-keeper/dpop
 */
export * from './dpop/index.ts';
