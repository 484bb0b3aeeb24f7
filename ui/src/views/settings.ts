// Settings: the fleet and Steward's own settings, edited in the config file a person also
// edits by hand (every other line, comment and blank of it stays). The config file's path
// (with a copy button in a browser; in the tray app a button opens it with the desktop's
// default application), the providers, the models and the planner's chain, the probe defaults, the planner,
// the executor with its command templates, and how long history is kept.
// The document is read when the view is shown and again when the engine reloads the config
// (an edit here or elsewhere); forms keep their input across that. Each write carries the
// revision its input was made on, so a change made elsewhere meanwhile is said, never
// overwritten blindly (settings/state.ts).
// The parts: settings/state.ts (the document, the forms, writing), fields.ts (controls),
// providers.ts, models.ts, sections.ts.

import { desktop, isDesktop } from '../api';
import { el, html, nothing, render } from '../dom';
import { modelsSection } from './settings/models';
import { providersSection } from './settings/providers';
import { sectionsPart } from './settings/sections';
import { load, onChange, state } from './settings/state';

/** The view's element, kept across visits (lit-html keeps its state on it). */
const mount = el('div', { id: 'settings' });
const shown = () => mount.isConnected;

onChange(update);

export function renderSettings(host: HTMLElement): void {
  host.replaceChildren(mount);
  update();
  void load();
}

/** The engine read the config file again (an edit here, or by hand): read it again if shown. */
export function settingsConfigReloaded(): void {
  if (shown()) void load();
}

let copied = '';
let copiedTimer = 0;
let opened = '';

/** The tray app: the file in the desktop's default editor. */
async function openFile(): Promise<void> {
  try {
    const r = await desktop!.openConfigFile();
    opened = `Opened ${r.path}; Steward reloads it when you save it.`;
  } catch (e) {
    opened = `Could not open it: ${e instanceof Error ? e.message : String(e)}`;
  }
  update();
}

async function copyPath(path: string, button: HTMLElement): Promise<void> {
  try {
    await navigator.clipboard.writeText(path);
    copied = 'Copied.';
  } catch {
    // No clipboard API (a page served over plain HTTP to another host): select it instead.
    const field = button.parentElement?.querySelector<HTMLInputElement>('input.path');
    field?.select();
    copied = document.execCommand?.('copy') ? 'Copied.' : 'Selected: press Ctrl+C to copy.';
  }
  clearTimeout(copiedTimer);
  copiedTimer = window.setTimeout(() => {
    copied = '';
    update();
  }, 4000);
  update();
}

function update(): void {
  if (!shown()) return;
  const doc = state.doc;
  render(
    html`<p class="load-error" role="alert" ?hidden=${!state.loadError}>
        ${state.loadError
          ? html`Could not read the config file: ${state.loadError}
              <button type="button" @click=${() => void load()}>Try again</button>`
          : nothing}
      </p>
      ${doc
        ? html`<section class="settings-section config-file" aria-labelledby="settings-file-title">
              <h2 id="settings-file-title">Config file</h2>
              <p class="file-line">
                <input class="path" id="config-path" readonly aria-label="Config file path" .value=${doc.path}
                  size=${Math.min(80, Math.max(20, doc.path.length + 2))} />
                ${isDesktop
                  ? html`<button type="button" id="open-config" @click=${() => void openFile()}>Open config file</button>
                      <span class="muted" role="status">${opened || 'Steward reloads it when you save it.'}</span>`
                  : html`<button type="button" id="copy-path" @click=${(e: Event) => void copyPath(doc.path, e.currentTarget as HTMLElement)}>
                        Copy path
                      </button>
                      <span class="muted" role="status">${copied}</span>`}
              </p>
              <p class="muted">
                Changes here are written to this file (comments and everything else in it stay) and applied at once.
              </p>
            </section>
            ${providersSection()} ${modelsSection()} ${sectionsPart()}`
        : state.loadError
          ? nothing
          : html`<p class="loading">Reading the config file…</p>`}`,
    mount,
  );
}
