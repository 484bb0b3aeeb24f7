// The banners above every view: the incident (providers down) and the config errors.

import { html, render } from '../dom';
import { num, plural } from '../format';
import type { ProviderView, StatusView } from '../types';

/** How many down providers the banner names; the rest are counted ("and 12 more"). */
export const NAMED_DOWN = 10;

/** Names the providers whose breaker is open: `named` (at most `NAMED_DOWN`, in the order
 *  to name them) of `count`; hidden when none is. */
export function renderIncident(named: ProviderView[], count: number): void {
  const host = document.getElementById('incident');
  if (!host) return;
  host.hidden = count === 0;
  const list = named.map((p) => `${p.id} (${p.last_error ?? p.last_outcome ?? 'down'})`).join(', ');
  const more = count > named.length ? ` and ${num(count - named.length)} more` : '';
  render(count ? html`<strong>${plural(count, 'provider')} down: </strong>${list}${more}` : html``, host);
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
