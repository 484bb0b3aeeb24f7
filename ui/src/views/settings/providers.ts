// Settings: the providers of the config file. A list (id, kind, node / service, enabled)
// with Edit, Disable / Enable (a patch of `enabled`) and Delete (asked in the page first),
// and one form at a time to add a provider or edit one: its kind's fields (headers as
// name / value rows, a command as one input per argument), Test (one probe of the unsaved
// definition; a command provider is never run before it is saved) and Save (a new entry,
// or, for an edit, a patch of exactly the keys the form changes, removed ones as null: the
// entry as the form shows it, without sending back values the person did not touch). An id
// is not renamed in place: the field is read-only when editing (a rename is a delete and an
// add; history stays with the old id).

import { api, ApiError, type Fields } from '../../api';
import { busy, html, keyed, live, nothing, unlessChanged } from '../../dom';
import { ms } from '../../format';
import type { TestOutcome } from '../../generated/types';
import { argvEditor, checkbox, confirmDelete, fieldError, formNotice, input, select } from './fields';
import {
  changed,
  changes,
  clearMessages,
  closeForm,
  entries,
  newForm,
  record,
  showIssues,
  state,
  text,
  wholeNumber,
  write,
  type Form,
} from './state';

const FORM_ID = 'provider-form';
/** What a secret-looking value reads as (sent back unchanged, it keeps the file's). */
const HIDDEN = '(hidden)';
const HIDDEN_IN_URL =
  'The password in this URL reads (hidden) and would be written so: type it (or a ${ENV} reference) in its place, or leave the URL as it was.';
const KINDS = ['http', 'tcp', 'llm', 'command'] as const;
type Kind = (typeof KINDS)[number];

/** The text fields of the form, by key (`json_pointer` and `json_equals` make `expect_json`). */
const TEXT_KEYS = [
  'id',
  'node',
  'service',
  'interval',
  'timeout',
  'failure_threshold',
  'backoff',
  'backoff_max',
  'confirm_after',
  'depends_on',
  'url',
  'expect_status',
  'expect_body',
  'json_pointer',
  'json_equals',
  'address',
  'api',
  'api_key_env',
  'model',
] as const;
type TextKey = (typeof TEXT_KEYS)[number];

/** The keys each kind uses besides the common ones. */
const KIND_KEYS: Record<Kind, readonly string[]> = {
  http: ['url', 'expect_status', 'expect_body', 'expect_json', 'headers'],
  tcp: ['address'],
  llm: ['api', 'url', 'model', 'api_key_env'],
  command: ['command'],
};
const COMMON_KEYS = [
  'id',
  'kind',
  'node',
  'service',
  'enabled',
  'interval',
  'timeout',
  'failure_threshold',
  'backoff',
  'backoff_max',
  'confirm_after',
  'depends_on',
];
/** Every key the form edits; an entry's other keys (none today) are kept as they are. */
const KNOWN = new Set([...COMMON_KEYS, ...Object.values(KIND_KEYS).flat()]);

interface Draft {
  form: Form;
  /** The id of the entry edited; null for a new one. */
  editing: string | null;
  /** The entry as the file had it when the form opened. */
  original: Record<string, unknown>;
  kind: string;
  v: Record<TextKey, string>;
  enabled: boolean;
  headers: { name: string; value: string }[];
  command: string[];
  test: { running: boolean; outcome: TestOutcome | null; error: string };
}

let draft: Draft | null = null;
/** The id whose delete waits for a yes. */
let confirming: string | null = null;
/** The list's own messages (toggles, deletes, what was saved). */
const listForm = newForm('providers', false);

function draftOf(entry: Record<string, unknown> | null): Draft {
  const e = entry ?? {};
  const v = Object.fromEntries(TEXT_KEYS.map((k) => [k, text(e[k])])) as Record<TextKey, string>;
  v.depends_on = Array.isArray(e.depends_on) ? e.depends_on.map(text).join(', ') : text(e.depends_on);
  const json = record(e.expect_json);
  v.json_pointer = text(json.pointer);
  v.json_equals = typeof json.equals === 'string' ? json.equals : text(json.equals);
  const id = entry ? text(e.id) : null;
  return {
    form: newForm(`provider:${id ?? ''}`),
    editing: id,
    original: e,
    kind: text(e.kind) || 'http',
    v,
    enabled: e.enabled !== false,
    headers: Object.entries(record(e.headers)).map(([name, value]) => ({ name, value: text(value) })),
    command: Array.isArray(e.command) ? e.command.map(text) : [],
    test: { running: false, outcome: null, error: '' },
  };
}

function open(entry: Record<string, unknown> | null): void {
  closeForm(draft?.form);
  draft = draftOf(entry);
  clearMessages(listForm);
  changed();
  requestAnimationFrame(() =>
    document.querySelector<HTMLInputElement>(`#${FORM_ID} [name="${entry ? 'node' : 'id'}"]`)?.focus(),
  );
}

function close(): void {
  closeForm(draft?.form);
  draft = null;
  changed();
}

/** Which keys the form shows a field for now (an issue about another goes in its notice). */
function placed(d: Draft): (key: string) => boolean {
  const shown = new Set([...COMMON_KEYS, ...(KIND_KEYS[d.kind as Kind] ?? [])]);
  return (key) => shown.has(key);
}

/** The entry the form describes, as the file's fields; or the local errors (a number that
 *  is not one). Empty fields are left out (the defaults apply). */
function fieldsOf(d: Draft): { fields: Fields; errors: Record<string, string> } {
  const fields: Fields = {};
  const errors: Record<string, string> = {};
  for (const [k, value] of Object.entries(d.original)) if (!KNOWN.has(k)) fields[k] = value;
  const v = (k: TextKey) => d.v[k].trim();
  const str = (k: TextKey) => {
    if (v(k)) fields[k] = v(k);
  };
  const int = (k: TextKey) => {
    if (!v(k)) return;
    const n = wholeNumber(v(k));
    if (typeof n === 'number') fields[k] = n;
    else errors[k] = n;
  };
  fields.id = d.editing ?? v('id');
  fields.kind = d.kind;
  str('node');
  str('service');
  if (!d.enabled || 'enabled' in d.original) fields.enabled = d.enabled;
  for (const k of ['interval', 'timeout', 'backoff', 'backoff_max', 'confirm_after'] as const) str(k);
  int('failure_threshold');
  const deps = v('depends_on')
    .split(/[\s,]+/)
    .filter(Boolean);
  if (deps.length) fields.depends_on = deps;
  if (d.kind === 'http' || d.kind === 'llm') {
    str('url');
    // The file's password reads "(hidden)"; it is kept only while the URL is sent unchanged.
    if (v('url').includes(HIDDEN) && v('url') !== text(d.original.url)) errors.url = HIDDEN_IN_URL;
  }
  if (d.kind === 'http') {
    int('expect_status');
    str('expect_body');
    if (v('json_pointer') || v('json_equals')) {
      fields.expect_json = { pointer: v('json_pointer'), equals: jsonValue(d.v.json_equals) };
    }
    const headers = d.headers.filter((h) => h.name.trim());
    if (headers.length) fields.headers = Object.fromEntries(headers.map((h) => [h.name.trim(), h.value]));
  }
  if (d.kind === 'tcp') str('address');
  if (d.kind === 'llm') {
    str('api');
    str('model');
    str('api_key_env');
  }
  if (d.kind === 'command') {
    const argv = d.command.filter((a) => a !== '');
    if (argv.length) fields.command = argv;
  }
  return { fields, errors };
}

/** `expect_json.equals` as typed: JSON when it reads as JSON (`200`, `true`, `"ok"`), else
 *  the text itself. */
function jsonValue(typed: string): unknown {
  const t = typed.trim();
  try {
    return JSON.parse(t);
  } catch {
    return typed;
  }
}

async function save(d: Draft): Promise<void> {
  const { fields, errors } = fieldsOf(d);
  if (Object.keys(errors).length) {
    clearMessages(d.form);
    d.form.errors = errors;
    d.form.notice = 'Not saved: see the marked fields.';
    changed();
    return;
  }
  const id = String(fields.id);
  const editing = d.editing;
  // An edit sends what changed (see `changes`); a new provider, all of it.
  const patch = editing === null ? fields : changes(fields, d.original);
  if (editing !== null && !Object.keys(patch).length) {
    close();
    listForm.done = `Nothing to save: ${id} is as the file has it.`;
    changed();
    return;
  }
  const ok = await write(
    d.form,
    (revision) =>
      editing === null ? api.createProvider(fields, revision) : api.updateProvider(editing, patch, revision),
    { placed: placed(d) },
  );
  if (ok && draft === d) {
    close();
    listForm.done = `Saved provider ${id} to the config file.`;
    changed();
  }
}

async function test(d: Draft): Promise<void> {
  const { fields, errors } = fieldsOf(d);
  clearMessages(d.form);
  d.test = { running: true, outcome: null, error: '' };
  if (Object.keys(errors).length) {
    d.form.errors = errors;
    d.test = { running: false, outcome: null, error: 'Not tested: see the marked fields.' };
    changed();
    return;
  }
  changed();
  try {
    d.test.outcome = await api.testProvider(fields);
  } catch (e) {
    if (e instanceof ApiError && e.code === 'invalid_config') {
      showIssues(d.form, e, placed(d));
      d.form.notice = '';
      const elsewhere = e.issues.filter((i) => !(i.key && placed(d)(i.key)));
      d.test.error = elsewhere.length
        ? `Not tested: ${elsewhere.map((i) => `${i.field}: ${i.message}`).join('; ')}`
        : 'Not tested: see the marked fields.';
    } else {
      d.test.error = (e as Error).message;
    }
  } finally {
    d.test.running = false;
    changed();
  }
}

async function toggle(id: string, enabled: boolean): Promise<void> {
  listForm.base = state.doc?.revision ?? '';
  confirming = null;
  const ok = await write(listForm, (revision) => api.updateProvider(id, { enabled }, revision));
  if (ok) listForm.done = `${id} is ${enabled ? 'enabled' : 'disabled'}.`;
}

async function remove(id: string): Promise<void> {
  listForm.base = state.doc?.revision ?? '';
  const ok = await write(listForm, (revision) => api.deleteProvider(id, revision));
  if (ok) {
    confirming = null;
    if (draft?.editing === id) close();
    listForm.done = `Deleted provider ${id} from the config file; its history stays under ${id}.`;
  }
}

const TONE: Record<string, string> = { up: 'ok', down: 'error', error: 'error', rate_limited: 'warning', inconclusive: 'warning' };

export function providersSection() {
  const list = entries('providers');
  return html`<section class="settings-section" id="settings-providers" aria-labelledby="settings-providers-title">
    <div class="section-head">
      <h2 id="settings-providers-title">Providers</h2>
      <button type="button" id="add-provider" @click=${() => open(null)}>Add provider</button>
    </div>
    ${formNotice(listForm)}
    ${unlessChanged([list, confirming, draft?.editing], () => table(list))}
    ${draft ? providerForm(draft) : nothing}
  </section>`;
}

function table(list: Record<string, unknown>[]) {
  return html`<div class="table-wrap">
    <table class="grid settings-list" id="settings-provider-list" aria-labelledby="settings-providers-title">
      <thead>
        <tr>
          <th scope="col">Id</th>
          <th scope="col">Kind</th>
          <th scope="col">Node / service</th>
          <th scope="col">Enabled</th>
          <th scope="col"><span class="visually-hidden">Actions</span></th>
        </tr>
      </thead>
      <tbody>
        ${keyed(list, (p) => text(p.id), row)}
        ${list.length
          ? nothing
          : html`<tr>
              <td colspan="5" class="empty">No providers in the config file yet: add one.</td>
            </tr>`}
      </tbody>
    </table>
  </div>`;
}

function row(p: Record<string, unknown>) {
  const id = text(p.id);
  const enabled = p.enabled !== false;
  const asking = confirming === id;
  return html`<tr data-config-provider=${id} class=${draft?.editing === id ? 'editing' : ''}>
    <td><strong>${id}</strong></td>
    <td class="kind">${text(p.kind)}</td>
    <td>${text(p.node)} / ${text(p.service) || id}</td>
    <td><span class="badge ${enabled ? 'ok' : 'disabled'}">${enabled ? 'ENABLED' : 'DISABLED'}</span></td>
    <td class="actions">
      ${asking
        ? confirmDelete(
            id,
            `Delete ${id} from the config file? Its history stays with the id ${id}.`,
            () => remove(id),
            () => {
              confirming = null;
              changed();
            },
          )
        : html`<button type="button" data-edit=${id} @click=${() => open(p)}>Edit</button
            ><button
              type="button"
              data-toggle=${id}
              @click=${(e: Event) => busy(e.currentTarget as HTMLElement, () => toggle(id, !enabled))}
            >
              ${enabled ? 'Disable' : 'Enable'}</button
            ><button
              type="button"
              class="danger"
              data-delete=${id}
              @click=${() => {
                confirming = id;
                clearMessages(listForm);
                changed();
              }}
            >
              Delete
            </button>`}
    </td>
  </tr>`;
}

function providerForm(d: Draft) {
  const f = d.form;
  const field = (key: TextKey, label: string, extra: { placeholder?: string; hint?: string; wide?: boolean } = {}) =>
    input(FORM_ID, f, {
      key,
      label,
      value: d.v[key],
      set: (value) => {
        d.v[key] = value;
      },
      ...extra,
    });
  const defaults = record(state.doc?.config.probe);
  const dflt = (key: string, fallback: string) => `default: ${text(defaults[key]) || fallback}`;
  const title = d.editing === null ? 'Add a provider' : `Edit provider ${d.editing}`;
  return html`<form
    class="settings-form"
    id=${FORM_ID}
    aria-labelledby="provider-form-title"
    data-editing=${d.editing ?? ''}
    novalidate
    @submit=${(e: Event) => {
      e.preventDefault();
      const button = (e.currentTarget as HTMLFormElement).querySelector<HTMLElement>('button.save');
      if (button) void busy(button, () => save(d));
    }}
  >
    <h3 id="provider-form-title">${title}</h3>
    <div class="fields">
      ${input(FORM_ID, f, {
        key: 'id',
        label: 'Id',
        value: d.editing ?? d.v.id,
        readonly: d.editing !== null,
        placeholder: 'web',
        hint:
          d.editing !== null
            ? 'An id is not changed in place: to rename, delete this provider and add it anew (its history stays with the old id).'
            : 'Unique; letters, digits, _ . -',
        set: (value) => {
          d.v.id = value;
        },
      })}
      ${select(FORM_ID, f, {
        key: 'kind',
        label: 'Kind',
        value: d.kind,
        options: KINDS,
        set: (value) => {
          d.kind = value;
          d.test = { running: false, outcome: null, error: '' };
          changed();
        },
      })}
      ${field('node', 'Node', { placeholder: 'piha' })} ${field('service', 'Service', { placeholder: 'default: the id' })}
      ${checkbox(FORM_ID, f, {
        key: 'enabled',
        label: 'Enabled (probed)',
        checked: d.enabled,
        set: (checked) => {
          d.enabled = checked;
        },
      })}
    </div>
    <div class="fields kind-fields" data-kind=${d.kind}>${kindFields(d, field)}</div>
    <details class="more" ?open=${['interval', 'timeout', 'failure_threshold', 'backoff', 'backoff_max', 'confirm_after', 'depends_on'].some((k) => f.errors[k] || d.v[k as TextKey])}>
      <summary>Probe timing and dependencies</summary>
      <div class="fields">
        ${field('interval', 'Interval', { placeholder: dflt('interval', '30s') })}
        ${field('timeout', 'Timeout', { placeholder: dflt('timeout', '3s') })}
        ${field('failure_threshold', 'Failures to open', { placeholder: dflt('failure_threshold', '2') })}
        ${field('backoff', 'Backoff', { placeholder: dflt('backoff', '60s') })}
        ${field('backoff_max', 'Backoff max', { placeholder: dflt('backoff_max', '60s') })}
        ${field('confirm_after', 'Confirm after', { placeholder: dflt('confirm_after', 'none') })}
        ${field('depends_on', 'Depends on', { placeholder: 'router, nas', hint: 'Provider ids, comma-separated', wide: true })}
      </div>
    </details>
    ${formNotice(f)}
    <div class="form-actions">
      <button type="submit" class="primary save">${d.editing === null ? 'Add provider' : 'Save'}</button>
      <button
        type="button"
        class="test"
        @click=${(e: Event) => busy(e.currentTarget as HTMLElement, () => test(d))}
      >
        Test
      </button>
      ${testOutcome(d)}
      <button type="button" class="cancel" @click=${close}>Cancel</button>
    </div>
  </form>`;
}

function kindFields(
  d: Draft,
  field: (key: TextKey, label: string, extra?: { placeholder?: string; hint?: string; wide?: boolean }) => unknown,
) {
  const f = d.form;
  switch (d.kind) {
    case 'http':
      return html`${field('url', 'URL', { placeholder: 'http://127.0.0.1:8080/health', wide: true })}
        ${field('expect_status', 'Expect status', { placeholder: 'any 2xx' })}
        ${field('expect_body', 'Expect body', { placeholder: 'a word the body contains' })}
        <fieldset class="group" data-field="expect_json">
          <legend>Expect JSON</legend>
          ${field('json_pointer', 'Pointer', { placeholder: '/status' })}
          ${field('json_equals', 'Equals', { placeholder: 'ok', hint: 'JSON (200, true, "200") or plain text' })}
          ${fieldError(FORM_ID, f, 'expect_json')}
        </fieldset>
        ${headersEditor(d)}`;
    case 'tcp':
      return field('address', 'Address', { placeholder: '127.0.0.1:1883', hint: 'host:port' });
    case 'llm':
      return html`${select(FORM_ID, f, {
          key: 'api',
          label: 'API',
          value: d.v.api || 'openai',
          options: ['openai', 'ollama'],
          set: (value) => {
            d.v.api = value;
          },
        })}
        ${field('url', 'URL', { placeholder: 'http://127.0.0.1:11434', wide: true })}
        ${field('model', 'Model', { placeholder: 'optional: down when not listed' })}
        ${field('api_key_env', 'API key variable', { placeholder: 'OPENAI_API_KEY', hint: 'The key is read from this environment variable' })}`;
    case 'command':
      return argvEditor(FORM_ID, f, {
        key: 'command',
        label: 'Command',
        argv: d.command,
        hint: 'One input per argument, never a shell line; exit 0 = up. Not run by Test: save it, then probe it.',
      });
    default:
      return nothing;
  }
}

function headersEditor(d: Draft) {
  const f = d.form;
  return html`<fieldset class="group headers" data-field="headers">
    <legend>Headers</legend>
    ${d.headers.length ? nothing : html`<p class="muted">None.</p>`}
    <ol>
      ${d.headers.map(
        (h, i) =>
          html`<li>
            <input
              name="header-name-${i}"
              aria-label="Header ${i + 1} name"
              placeholder="Authorization"
              .value=${live(h.name)}
              @input=${(e: Event) => {
                h.name = (e.target as HTMLInputElement).value;
              }}
            /><input
              name="header-value-${i}"
              class="header-value"
              aria-label="Header ${i + 1} value"
              placeholder="Bearer \${WEB_TOKEN}"
              .value=${live(h.value)}
              @input=${(e: Event) => {
                h.value = (e.target as HTMLInputElement).value;
              }}
            /><button
              type="button"
              class="remove"
              title="Remove"
              aria-label="Remove header ${i + 1}"
              @click=${() => {
                d.headers.splice(i, 1);
                changed();
              }}
            >
              ×
            </button>
          </li>`,
      )}
    </ol>
    <button
      type="button"
      class="add"
      @click=${(e: Event) => {
        d.headers.push({ name: '', value: '' });
        changed();
        (e.currentTarget as HTMLElement).closest('fieldset')?.querySelector<HTMLInputElement>('li:last-child input')?.focus();
      }}
    >
      Add header
    </button>
    <small class="hint">Secrets as \${ENV} references; "(hidden)" keeps the value the file has.</small>
    ${fieldError(FORM_ID, f, 'headers')}
  </fieldset>`;
}

function testOutcome(d: Draft) {
  const t = d.test;
  if (t.running) return html`<span class="test-outcome" role="status">Testing…</span>`;
  if (t.error) return html`<span class="test-outcome error-text" role="status" data-status="refused">${t.error}</span>`;
  const o = t.outcome;
  if (!o) return html`<span class="test-outcome" role="status"></span>`;
  return html`<span class="test-outcome" role="status" data-status=${o.status}
    ><span class="badge ${TONE[o.status] ?? 'warning'}">${o.status.replace('_', ' ').toUpperCase()}</span>
    ${ms(o.latency_ms)}${o.error ? html` · <span class="error-text">${o.error}</span>` : nothing}</span
  >`;
}
