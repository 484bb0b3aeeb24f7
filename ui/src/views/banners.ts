// The banners above every view: the incident (providers down) and the config errors.

import { html, render } from '../dom';
import { plural } from '../format';
import type { ProviderView, StatusView } from '../types';

/** Names the providers whose breaker is open; hidden when none is. */
export function renderIncident(providers: Iterable<ProviderView>): void {
  const host = document.getElementById('incident');
  if (!host) return;
  const down = [...providers].filter((p) => p.state === 'open');
  host.hidden = down.length === 0;
  const list = down.map((p) => `${p.id} (${p.last_error ?? p.last_outcome ?? 'down'})`).join(', ');
  render(down.length ? html`<strong>${plural(down.length, 'provider')} down: </strong>${list}` : html``, host);
}

/** The config file's errors, while Steward runs on the last good config. */
export function renderConfigErrors(status: StatusView): void {
  const host = document.getElementById('config-errors');
  if (!host) return;
  const issues = status.config_errors;
  host.hidden = issues.length === 0;
  const where = (i: (typeof issues)[number]) =>
    `${i.file ?? status.config_path ?? 'config'}${i.line !== null ? `:${i.line}` : ''}`;
  const count = issues.length === 1 ? 'an error' : plural(issues.length, 'error');
  render(
    issues.length
      ? html`<strong>The config file has ${count}; running with the last good config.</strong>
          <ul>
            ${issues.map((i) => html`<li>${where(i)} ${i.field ? `${i.field}: ` : ''}${i.message}</li>`)}
          </ul>`
      : html``,
    host,
  );
}
