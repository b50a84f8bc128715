/** The element with this id; a missing one is a bug in index.html, so it throws. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from index.html`);
  return element as T;
}

/** The first match inside `root`; throws when index.html lacks it. */
export function query<T extends Element = HTMLElement>(root: ParentNode, selector: string): T {
  const element = root.querySelector<T>(selector);
  if (!element) throw new Error(`${selector} is missing from index.html`);
  return element;
}

/** Shows `message` in the `[data-role=error]` line of `root`, or hides it for `null`. */
export function showError(root: ParentNode, message: string | null): void {
  const line = query(root, '[data-role="error"]');
  line.textContent = message ?? '';
  line.hidden = message === null;
}

/** Sets the text of every `[data-field=name]` inside `root`. */
export function setFields(root: ParentNode, fields: Record<string, string>): void {
  for (const [name, value] of Object.entries(fields)) {
    for (const element of root.querySelectorAll(`[data-field="${name}"]`)) element.textContent = value;
  }
}

const SCREENS = ['screen-loading', 'screen-signin', 'screen-offer', 'screen-home'] as const;
export type Screen = (typeof SCREENS)[number];

/** Shows one screen and hides the others. */
export function showScreen(screen: Screen): void {
  for (const id of SCREENS) byId(id).hidden = id !== screen;
}

/** Reads a form's username and password. */
export function credentials(form: HTMLFormElement): { username: string; password: string } {
  const data = new FormData(form);
  return { username: String(data.get('username') ?? '').trim(), password: String(data.get('password') ?? '') };
}
