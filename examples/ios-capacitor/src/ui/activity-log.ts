import { formatTime } from './format.ts';

/** How a log line is marked: a refresh, a warning, a (re)authentication, a lifecycle change. */
export type LogKind = 'refresh' | 'warn' | 'auth' | 'lifecycle' | 'info';

const MAX_LINES = 50;

/** The session panel's activity log: newest first, never a token. */
export class ActivityLog {
  readonly #list: HTMLOListElement;
  readonly #now: () => number;

  constructor(list: HTMLOListElement, now: () => number = Date.now) {
    this.#list = list;
    this.#now = now;
  }

  add(kind: LogKind, text: string): void {
    const item = document.createElement('li');
    item.dataset.kind = kind;
    const time = document.createElement('time');
    const at = this.#now();
    time.dateTime = new Date(at).toISOString();
    time.textContent = formatTime(at);
    const message = document.createElement('span');
    message.textContent = text;
    item.append(time, message);
    this.#list.prepend(item);
    while (this.#list.children.length > MAX_LINES) this.#list.lastElementChild?.remove();
  }

  clear(): void {
    this.#list.replaceChildren();
  }
}
