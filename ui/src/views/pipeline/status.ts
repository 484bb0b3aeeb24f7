// The Pipeline view's head: the level in words with the engine's detail, the stuck file and
// how long it has been skipped, the facts (how the root is watched, the root, its files, the
// last scan); and, without `[sessions]`, the explanation of how to configure it.

import { html, nothing } from '../../dom';
import { bytes, millisExact, plural, wordFor } from '../../format';
import { timeAgo, timeSince } from '../../ticker';
import type { PipelineLevel, SessionsView } from '../../types';

const LEVEL_WORDS: Record<PipelineLevel, string> = { ok: 'OK', warning: 'WARNING', info: 'INFO' };

/** The level's badge, the detail, the stuck file, the facts. */
export function head(d: SessionsView) {
  const s = d.status;
  return html`<div class="headline">
      <span class="badge ${d.configured ? s.status : 'disabled'}" id="pipeline-badge"
        >${d.configured ? LEVEL_WORDS[s.status] : 'OFF'}</span
      ><span class="pipeline-detail" id="pipeline-detail"
        >${d.configured ? (s.detail ?? '') : 'No [sessions] section in the config: session logs are not watched.'}</span
      >
    </div>
    ${stuck(d)} ${facts(d)}`;
}

/** The instant a stuck file was last processed (now − its age), kept while the age is the same,
 *  so that its `<time>` is not rewritten on every render. */
let since = { key: '', iso: '' };

function stuck(d: SessionsView) {
  const s = d.status;
  const show = s.status !== 'ok' && Boolean(s.stuck_file || s.processor);
  let file: unknown = nothing;
  if (show && s.stuck_file) {
    const age = s.stuck_file_age_seconds ?? 0;
    const key = `${s.stuck_file}|${age}`;
    if (since.key !== key) since = { key, iso: new Date(Date.now() - age * 1000).toISOString() };
    file = html`Stuck file <code data-stuck-file>${s.stuck_file}</code>, skipped for ${timeSince(since.iso)}`;
  }
  let proc = '';
  if (show && s.processor) {
    const count = s.processor.split(',').length;
    proc = s.stuck_file ? ` (processor ${s.processor})` : `${wordFor(count, 'Processor')}: ${s.processor}`;
  }
  return html`<p class="stuck" id="pipeline-stuck" ?hidden=${!show}>${file}${proc}</p>`;
}

function facts(d: SessionsView) {
  if (!d.configured) return html`<dl class="facts pipeline-facts" id="pipeline-facts" hidden></dl>`;
  const w = d.watch;
  const watch = !w
    ? '—'
    : w.mode === 'native'
      ? 'native file events'
      : w.mode === 'polling'
        ? html`<span class="warn-text">polling</span>${w.detail ? ` (native watch failed: ${w.detail})` : ''}`
        : html`<span class="warn-text">waiting</span>${w.detail ? ` — ${w.detail}` : ''}`;
  const f = d.files;
  const files = html`${plural(f.count, 'file')}, ${bytes(f.total_bytes)}${f.newest_mtime
    ? html`; newest modified ${timeAgo(f.newest_mtime)}`
    : nothing}`;
  const scan = d.last_scan;
  const scanned =
    !d.scanned || !scan
      ? 'first scan in progress'
      : html`${timeAgo(scan.at)} in ${millisExact(scan.duration_ms)}: ${scan.seen} seen, ${scan.new} new, ${scan.changed}
          changed, ${scan.removed} removed${scan.error ? html`<span class="error-text"> — failed: ${scan.error}</span>` : nothing}`;
  const items: [string, unknown][] = [
    ['Watch', watch],
    ['Root', html`<code>${d.root ?? '—'}</code>`],
    ['Files', files],
    ['Last scan', scanned],
  ];
  return html`<dl class="facts pipeline-facts" id="pipeline-facts">
    ${items.map(([k, v]) => html`<dt>${k}</dt><dd data-fact=${k.toLowerCase().replace(/ /g, '-')}>${v}</dd>`)}
  </dl>`;
}

const SNIPPET = `[sessions]
root = "/data/user_sessions"      # <root>/<user>/*.jsonl

[[sessions.processors]]
name = "usage"
kind = "usage"                    # built in: tokens by model and day
cadence = "15m"

[[sessions.processors]]
name = "verification"
kind = "command"                  # once per new or changed file; exit 0 = processed
command = ["verify-session", "{file}"]
cadence = "15m"`;

/** Shown instead of the sections when `[sessions]` is not configured. */
export function explanation(configPath: string | null) {
  return html`<section class="unconfigured" id="pipeline-unconfigured" aria-labelledby="pipeline-unconfigured-title">
    <h2 id="pipeline-unconfigured-title">The session pipeline is not configured</h2>
    <p>
      Steward can watch session logs (one folder per user, .jsonl files), hand new and changed files to processors, count
      token usage, and tell you when processing falls behind or a file is skipped.
    </p>
    <p>
      To turn it on, add a [sessions] section to the config file${configPath ? html`<code> ${configPath}</code>` : nothing}
      and restart Steward (this section is read at start):
    </p>
    <pre class="snippet">${SNIPPET}</pre>
    <p class="muted">
      A processor is stale after 2 × its cadence; a file it has not processed for longer than 4 × that is reported as
      skipped.
    </p>
  </section>`;
}
