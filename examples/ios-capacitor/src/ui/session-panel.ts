import type { SessionManager } from 'session-keeper';
import { setFields } from './dom.ts';
import { describeExpiry, formatDuration } from './format.ts';

const STATE_LABELS = {
  signedOut: 'Signed out',
  active: 'Active',
  refreshing: 'Refreshing…',
  reauthenticating: 'Confirming…',
} as const;

/** The state badge and the session facts: what the SDK tells, recomputed every second. */
export class SessionPanel {
  readonly #session: SessionManager;
  readonly #panel: HTMLElement;
  readonly #badge: HTMLElement;
  readonly #now: () => number;
  #biometric = '–';
  #dpopKey = '–';

  constructor(session: SessionManager, panel: HTMLElement, badge: HTMLElement, now: () => number = Date.now) {
    this.#session = session;
    this.#panel = panel;
    this.#badge = badge;
    this.#now = now;
  }

  /** "On (Face ID)", "Off": shown in the panel. */
  setBiometric(label: string): void {
    this.#biometric = label;
    this.render();
  }

  /** Where the DPoP key lives and the tail of its thumbprint (what the server binds tokens to). */
  setDpopKey(label: string): void {
    this.#dpopKey = label;
    this.render();
  }

  render(): void {
    const state = this.#session.state;
    this.#badge.dataset.state = state;
    this.#badge.textContent = STATE_LABELS[state];
    const info = this.#session.info;
    const now = this.#now();
    setFields(this.#panel, {
      state: STATE_LABELS[state],
      accessToken: info?.accessTokenExpiresAt == null ? '–' : describeExpiry(info.accessTokenExpiresAt, now),
      age: info ? formatDuration(info.ageMs) : '–',
      sessionEnd:
        info?.sessionExpiresAt === undefined
          ? 'not set by the server'
          : describeExpiry(info.sessionExpiresAt, now, 'ends'),
      biometric: this.#biometric,
      dpopKey: this.#session.state === 'signedOut' ? '–' : this.#dpopKey,
    });
  }
}
