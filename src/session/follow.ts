import type { SessionCore } from './core.ts';
import { decideFollow, isBusyWithStore } from './decisions.ts';

/** Another context changed the store: adopt its newer tokens, or follow its sign-out. */
export async function followStore(core: SessionCore): Promise<void> {
  const { storage } = core;
  if (isBusyWithStore(core.record)) return;
  let loaded;
  try {
    loaded = await storage.load();
  } catch (error) {
    core.options.logger.warn('store read after a change failed', { error });
    return;
  }
  const retired = loaded.kind === 'ok' && storage.isRetired(loaded.tokens);
  const decision = decideFollow(core.record, loaded, retired, storage.holdsOurs, core.now());
  if (decision === 'adopt' && loaded.kind === 'ok') {
    core.scope.replace();
    storage.followed();
    core.apply(loaded.tokens, 'otherContext');
  } else if (decision === 'signOut') {
    // Signed out elsewhere; a sign-in prompt this context shows is closed (its signal aborts).
    await core.end('otherContext');
  }
}
