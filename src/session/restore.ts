import type { SessionState } from '../types.ts';
import type { SessionCore } from './core.ts';
import { decideRestore, decideStart } from './decisions.ts';

/**
 * Loads the stored session and starts it: in use at once, refreshed, or re-authenticated.
 * Resolves with the state once the first attempt settled (offline: after the first failure,
 * while the refresh goes on).
 * @throws StoreError - the store itself failed; it was left untouched
 */
export async function restoreSession(core: SessionCore): Promise<SessionState> {
  const { storage, scope, options } = core;
  const loaded = await storage.load();
  // Disposed while the store answered (an unmount, a hot reload): the next manager restores.
  if (core.isDisposed()) return core.state;
  if (loaded.kind === 'garbled') {
    options.logger.warn('stored session unreadable; cleared');
    await storage.clear();
  }
  if (loaded.kind !== 'ok') return core.state;
  const { tokens } = loaded;
  const decision = decideRestore(core.record, tokens, storage.isRetired(tokens));
  if (decision === 'catchUpStore') await storage.save(core.record.tokens!);
  if (decision !== 'start') return core.state;
  // Disposed meanwhile, what follows does nothing: the scope is closed, the record takes no action.
  const reauthElsewhere = tokens.refreshRejectedAt !== undefined && (await core.isReauthenticatingElsewhere());
  scope.replace();
  storage.followed();
  const start = decideStart(tokens, core.now(), reauthElsewhere);
  if (start === 'use') {
    core.apply(tokens, 'restore');
    return core.state;
  }
  core.ownership.record(tokens, 'restore', core.record.tokens !== null);
  core.dispatch({ type: 'tokensLoaded', tokens });
  const run =
    start === 'reauthenticate'
      ? core.exclusive((signal) => core.reauthenticate('refreshRejected', signal))
      : core.startRefresh();
  await new Promise<void>((resolve) => {
    const off = core.events.on('refreshFailed', () => resolve());
    void run.finally(resolve).finally(off);
  });
  return core.state;
}
