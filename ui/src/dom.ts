// The one way the views put things on the page. Views describe what a list or a panel
// should look like with lit-html templates (`html`) and `render` them again on every data
// update; lit-html changes only what differs, and `keyed` lists reuse each item's element by
// its key (moving it, never re-creating it). So the element a person is using stays the same
// element: focus, scroll positions, typed text and `<details>` open state survive an update
// by construction, with no code to save and restore them.
// One case cannot survive by construction, and `renderKeepingFocus` handles it: an item that
// moves to another list (a proposal card becoming a history row) is a new element, and a
// focused control that becomes disabled drops focus; focus then goes to the item's home.
// Also here: `el`, a plain element builder for the few parts outside any view, and `busy`.

import { render, type RenderOptions } from 'lit-html';
import { repeat } from 'lit-html/directives/repeat.js';
import { guard } from 'lit-html/directives/guard.js';
import { live as liveValue } from 'lit-html/directives/live.js';

export { html, nothing, render, svg, type TemplateResult } from 'lit-html';

/** A list whose items keep their elements by `key` across renders (moved, not re-created). */
export const keyed = repeat;

/** A part rendered again only when one of its dependencies changed (by identity): a long
 *  list's unchanged rows then cost nothing on a render. */
export const unlessChanged = guard;

/** A form control's value or checked state set from the model whenever it differs from
 *  what the control shows now (not from what the last render set): for controls the person
 *  types into, whose model can change under them (a removed row's neighbour moving up). */
export const live = liveValue;

/**
 * Renders `template` into `host`. When focus was inside an item (an element carrying
 * `keyAttr`) and is gone after the render (the item's element was replaced by one in another
 * list, or the focused control is now disabled), it goes to `[data-focus="home"]` of the
 * element that now has the item's key, wherever that is under `host`.
 */
export function renderKeepingFocus(template: unknown, host: HTMLElement, keyAttr: string, options?: RenderOptions): void {
  const before = document.activeElement;
  const item = before && host.contains(before) ? before.closest(`[${keyAttr}]`) : null;
  const key = item?.getAttribute(keyAttr) ?? null;
  render(template, host, options);
  if (key === null) return;
  const now = document.activeElement as HTMLElement | null;
  const lost = !now || now === document.body || !now.isConnected || (now as HTMLButtonElement).disabled === true;
  if (!lost) return;
  host.querySelector<HTMLElement>(`[${keyAttr}="${CSS.escape(key)}"] [data-focus="home"]`)?.focus();
}

/** A plain element, for the few parts built once outside the views (nav marks, forms). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

/** Runs `work` once at a time per button. The button is marked busy rather than disabled,
 *  because disabling a focused button would drop keyboard focus. */
export async function busy(button: HTMLElement, work: () => Promise<void>): Promise<void> {
  if (button.getAttribute('aria-busy') === 'true') return;
  button.setAttribute('aria-busy', 'true');
  try {
    await work();
  } finally {
    button.removeAttribute('aria-busy');
  }
}
