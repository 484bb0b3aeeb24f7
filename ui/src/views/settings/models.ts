// Settings: the planner's models. A list of `[[models]]` (id, API, model, URL) with Add,
// Edit and Delete (asked in the page first), one form at a time, and the planner's chain:
// the model ids (and "rules") in the order the planner asks them, moved with up / down,
// removed or added, saved as `[planner] chain`.

import { api, type Fields } from '../../api';
import { busy, html, keyed, nothing, unlessChanged } from '../../dom';
import { confirmDelete, formNotice, input, select } from './fields';
import {
  changed,
  changes,
  clearMessages,
  closeForm,
  entries,
  newForm,
  record,
  state,
  text,
  write,
  type Form,
} from './state';

const FORM_ID = 'model-form';
const APIS = ['openai', 'anthropic'] as const;
const KEYS = ['id', 'api', 'url', 'model', 'provider', 'api_key_env', 'timeout'] as const;
type Key = (typeof KEYS)[number];

interface Draft {
  form: Form;
  editing: string | null;
  original: Record<string, unknown>;
  v: Record<Key, string>;
}

let draft: Draft | null = null;
let confirming: string | null = null;
const listForm = newForm('models', false);

/** The chain being edited (null: as the file has it) and its form. */
let chain: string[] | null = null;
let chainForm: Form | null = null;

function open(entry: Record<string, unknown> | null): void {
  closeForm(draft?.form);
  const e = entry ?? {};
  const id = entry ? text(e.id) : null;
  const v = Object.fromEntries(KEYS.map((k) => [k, text(e[k])])) as Record<Key, string>;
  if (!v.api) v.api = 'openai';
  draft = { form: newForm(`model:${id ?? ''}`), editing: id, original: e, v };
  clearMessages(listForm);
  changed();
  requestAnimationFrame(() =>
    document.querySelector<HTMLInputElement>(`#${FORM_ID} [name="${entry ? 'url' : 'id'}"]`)?.focus(),
  );
}

function close(): void {
  closeForm(draft?.form);
  draft = null;
  changed();
}

function fieldsOf(d: Draft): Fields {
  const fields: Fields = {};
  for (const [k, value] of Object.entries(d.original)) {
    if (!(KEYS as readonly string[]).includes(k)) fields[k] = value;
  }
  for (const k of KEYS) {
    const value = d.v[k].trim();
    if (value) fields[k] = value;
  }
  if (d.editing !== null) fields.id = d.editing;
  return fields;
}

async function save(d: Draft): Promise<void> {
  const fields = fieldsOf(d);
  const editing = d.editing;
  // An edit sends what changed (see `changes`); a new model, all of it.
  const patch = editing === null ? fields : changes(fields, d.original);
  if (editing !== null && !Object.keys(patch).length) {
    close();
    listForm.done = `Nothing to save: ${editing} is as the file has it.`;
    changed();
    return;
  }
  const ok = await write(
    d.form,
    (revision) => (editing === null ? api.createModel(fields, revision) : api.updateModel(editing, patch, revision)),
    { placed: (key) => (KEYS as readonly string[]).includes(key) },
  );
  if (ok && draft === d) {
    close();
    listForm.done = `Saved model ${text(fields.id)} to the config file.`;
    changed();
  }
}

async function remove(id: string): Promise<void> {
  listForm.base = state.doc?.revision ?? '';
  const ok = await write(listForm, (revision) => api.deleteModel(id, revision));
  if (ok) {
    confirming = null;
    if (draft?.editing === id) close();
    listForm.done = `Deleted model ${id} from the config file.`;
  }
}

export function modelsSection() {
  const list = entries('models');
  return html`<section class="settings-section" id="settings-models" aria-labelledby="settings-models-title">
    <div class="section-head">
      <h2 id="settings-models-title">Models</h2>
      <button type="button" id="add-model" @click=${() => open(null)}>Add model</button>
    </div>
    ${formNotice(listForm)} ${unlessChanged([list, confirming, draft?.editing], () => table(list))}
    ${draft ? modelForm(draft) : nothing} ${chainEditor(list)}
  </section>`;
}

function table(list: Record<string, unknown>[]) {
  return html`<div class="table-wrap">
    <table class="grid settings-list" id="settings-model-list" aria-labelledby="settings-models-title">
      <thead>
        <tr>
          <th scope="col">Id</th>
          <th scope="col">API</th>
          <th scope="col">Model</th>
          <th scope="col">URL</th>
          <th scope="col"><span class="visually-hidden">Actions</span></th>
        </tr>
      </thead>
      <tbody>
        ${keyed(list, (m) => text(m.id), row)}
        ${list.length
          ? nothing
          : html`<tr>
              <td colspan="5" class="empty">No models: the built-in rules planner answers alone.</td>
            </tr>`}
      </tbody>
    </table>
  </div>`;
}

function row(m: Record<string, unknown>) {
  const id = text(m.id);
  return html`<tr data-config-model=${id} class=${draft?.editing === id ? 'editing' : ''}>
    <td><strong>${id}</strong></td>
    <td>${text(m.api)}</td>
    <td>${text(m.model)}</td>
    <td class="url">${text(m.url)}</td>
    <td class="actions">
      ${confirming === id
        ? confirmDelete(
            id,
            `Delete model ${id} from the config file?${inChain(id) ? ' It is in the planner chain: take it out there first.' : ''}`,
            () => remove(id),
            () => {
              confirming = null;
              changed();
            },
          )
        : html`<button type="button" data-edit=${id} @click=${() => open(m)}>Edit</button
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

function modelForm(d: Draft) {
  const f = d.form;
  const field = (key: Key, label: string, extra: { placeholder?: string; hint?: string; wide?: boolean; list?: string } = {}) =>
    input(FORM_ID, f, {
      key,
      label,
      value: d.v[key],
      set: (value) => {
        d.v[key] = value;
      },
      ...extra,
    });
  const providerIds = entries('providers').map((p) => text(p.id));
  return html`<form
    class="settings-form"
    id=${FORM_ID}
    aria-labelledby="model-form-title"
    novalidate
    @submit=${(e: Event) => {
      e.preventDefault();
      const button = (e.currentTarget as HTMLFormElement).querySelector<HTMLElement>('button.save');
      if (button) void busy(button, () => save(d));
    }}
  >
    <h3 id="model-form-title">${d.editing === null ? 'Add a model' : `Edit model ${d.editing}`}</h3>
    <div class="fields">
      ${input(FORM_ID, f, {
        key: 'id',
        label: 'Id',
        value: d.editing ?? d.v.id,
        readonly: d.editing !== null,
        placeholder: 'local',
        hint: d.editing !== null ? 'An id is not changed in place: delete the model and add it anew.' : 'Unique; not "rules"',
        set: (value) => {
          d.v.id = value;
        },
      })}
      ${select(FORM_ID, f, {
        key: 'api',
        label: 'API',
        value: d.v.api,
        options: APIS,
        hint: 'openai: chat completions (Ollama /v1, LiteLLM, vLLM); anthropic: Messages API',
        set: (value) => {
          d.v.api = value;
        },
      })}
      ${field('url', 'URL', { placeholder: 'http://127.0.0.1:11434/v1', wide: true })}
      ${field('model', 'Model', { placeholder: 'qwen2.5:7b' })}
      ${field('provider', 'Provider', { placeholder: 'optional', hint: 'Skipped while this provider is down', list: 'model-provider-ids' })}
      <datalist id="model-provider-ids">${providerIds.map((id) => html`<option value=${id}></option>`)}</datalist>
      ${field('api_key_env', 'API key variable', { placeholder: 'OPENAI_API_KEY', hint: 'The key is read from this environment variable, never stored' })}
      ${field('timeout', 'Timeout', { placeholder: 'default: 30s' })}
    </div>
    ${formNotice(f)}
    <div class="form-actions">
      <button type="submit" class="primary save">${d.editing === null ? 'Add model' : 'Save'}</button>
      <button type="button" class="cancel" @click=${close}>Cancel</button>
    </div>
  </form>`;
}

/** Whether the file's chain names `id` (a model in it cannot be deleted before). */
const inChain = (id: string) => fileChain()?.includes(id) ?? false;

/** The chain as the file has it, or null when it has none. */
function fileChain(): string[] | null {
  const c = record(state.doc?.config.planner).chain;
  return Array.isArray(c) ? c.map(text) : null;
}

function editChain(models: Record<string, unknown>[], change: (c: string[]) => void): void {
  if (!chain) {
    chain = fileChain() ?? [...models.map((m) => text(m.id)), 'rules'];
    closeForm(chainForm);
    chainForm = newForm('section:planner.chain');
  }
  clearMessages(chainForm!);
  change(chain);
  changed();
}

async function saveChain(): Promise<void> {
  if (!chain || !chainForm) return;
  const order = [...chain];
  const ok = await write(chainForm, (revision) => api.updateSection('planner', { chain: order }, revision), {
    section: 'planner',
    placed: (key) => key === 'chain',
  });
  if (ok) {
    chain = null;
    chainForm.done = 'Saved the chain.';
  }
}

function discardChain(): void {
  chain = null;
  if (chainForm) clearMessages(chainForm);
  changed();
}

function chainEditor(models: Record<string, unknown>[]) {
  const shown = chain ?? fileChain();
  const order = shown ?? [...models.map((m) => text(m.id)), 'rules'];
  const addable = [...models.map((m) => text(m.id)), 'rules'].filter((id) => !order.includes(id));
  const f = chainForm;
  const err = f?.errors.chain ?? '';
  const move = (i: number, by: number) =>
    editChain(models, (c) => {
      const [id] = c.splice(i, 1);
      c.splice(i + by, 0, id);
    });
  return html`<div class="chain" id="settings-chain" aria-labelledby="settings-chain-title">
    <h3 id="settings-chain-title">Planner chain</h3>
    <p class="muted">
      The models the planner asks, in this order; "rules" is the built-in planner.
      ${shown ? nothing : 'Not set in the file: every model in file order, then rules.'}
    </p>
    ${f ? formNotice(f) : nothing}
    <ol class="chain-list" aria-invalid=${err ? 'true' : 'false'}>
      ${keyed(
        order,
        (id) => id,
        (id, i) =>
          html`<li data-chain=${id}>
            <span class="chain-id">${id}</span>
            <button type="button" aria-label="Move ${id} up" title="Up" ?disabled=${i === 0} @click=${() => move(i, -1)}>↑</button
            ><button type="button" aria-label="Move ${id} down" title="Down" ?disabled=${i === order.length - 1}
              @click=${() => move(i, 1)}>↓</button
            ><button type="button" class="remove" aria-label="Remove ${id} from the chain" title="Remove"
              @click=${() => editChain(models, (c) => c.splice(i, 1))}>×</button>
          </li>`,
      )}
    </ol>
    <small class="field-error" data-error-for="chain" role=${err ? 'alert' : nothing} ?hidden=${!err}>${err}</small>
    <div class="form-actions">
      ${addable.length
        ? html`<label
            >Add
            <select
              name="chain-add"
              @change=${(e: Event) => {
                const s = e.target as HTMLSelectElement;
                const id = s.value;
                s.value = '';
                if (id) editChain(models, (c) => c.push(id));
              }}
            >
              <option value="">—</option>
              ${addable.map((id) => html`<option value=${id}>${id}</option>`)}
            </select></label
          >`
        : nothing}
      <button
        type="button"
        class="primary save-chain"
        ?hidden=${!chain}
        @click=${(e: Event) => busy(e.currentTarget as HTMLElement, saveChain)}
      >
        Save chain
      </button>
      <button type="button" ?hidden=${!chain} @click=${discardChain}>Discard</button>
    </div>
  </div>`;
}
