// The newest session files (at most 200, newest first, kept by path) and where each
// processor stands with each: processed (✓), failed (✗ and why), or pending.

import { html, keyed } from '../../dom';
import { ago, bytes, clock, plural } from '../../format';
import { timeAgo } from '../../ticker';
import type { SessionFile, SessionsView } from '../../types';

export function filesSection(d: SessionsView) {
  const f = d.files;
  const names = d.processors.map((p) => p.name);
  const heading = f.truncated ? `Newest files (${f.list.length} of ${f.count})` : `Newest files (${f.list.length})`;
  const hint = d.scanned
    ? 'No session files yet: they appear here as <root>/<user>/<name>.jsonl is written.'
    : 'Scanning the session root…';
  return html`<section aria-labelledby="pipeline-files-title">
    <h2 id="pipeline-files-title">${heading}</h2>
    <div class="table-wrap">
      <table class="grid files" id="pipeline-files" aria-labelledby="pipeline-files-title">
        <thead>
          <tr>${['Path', 'User', 'Size', 'Modified', ...names].map((h) => html`<th scope="col">${h}</th>`)}</tr>
        </thead>
        <tbody>
          ${keyed(f.list, (file) => file.path, (file) => row(file, names))}
          ${f.list.length ? '' : html`<tr><td colspan=${4 + names.length} class="empty">${hint}</td></tr>`}
        </tbody>
      </table>
    </div>
  </section>`;
}

function row(f: SessionFile, names: string[]) {
  return html`<tr data-file=${f.path}>
    <td class="path"><code title=${f.file_hash ? `sha ${f.file_hash}` : ''}>${f.path}</code></td>
    <td>${f.username}</td>
    <td class="num">${bytes(f.size)}</td>
    <td class="ago">${timeAgo(f.mtime)}</td>
    ${names.map((name) => cell(f, name))}
  </tr>`;
}

function cell(f: SessionFile, name: string) {
  const s = f.processors.find((p) => p.processor === name);
  if (s?.last_error) {
    return html`<td class="f-proc error-text" data-processor=${name} data-state="failed" title=${s.last_error}
      >✗ ${s.last_error}</td
    >`;
  }
  if (s?.processed_at) {
    const items = s.items_extracted ? `, ${plural(s.items_extracted, 'item')}` : '';
    return html`<td
      class="f-proc ok-text"
      data-processor=${name}
      data-state="processed"
      title="processed ${clock(s.processed_at)}${items}"
      aria-label="processed ${ago(s.processed_at)}${items}"
    >✓</td>`;
  }
  return html`<td class="f-proc muted" data-processor=${name} data-state="pending">pending</td>`;
}
