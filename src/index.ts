/**
 * session-keeper: keeps app users signed in with single-flight OAuth 2.0 token refresh,
 * request queueing during refresh, and a re-authentication chain before sign-out.
 * @packageDocumentation
 * @module session-keeper
 */
export * from './fetch.ts';
// The main entry's SessionManager has createClient, the ky client.
export { SessionManager } from './ky-session-manager.ts';
export { createSessionClient, type SessionClientOptions } from './client/create-client.ts';
