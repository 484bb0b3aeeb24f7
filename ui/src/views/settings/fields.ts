// The Settings forms' controls: a labelled input, select or checkbox with its error under
// it (`data-error-for` the key the backend names in its issues), and an argv editor (one
// input per argument, never a shell line). Inputs are bound to their model with `live`, so
// a removed row's neighbour moving up shows its own text.

import { busy, html, live, nothing, type TemplateResult } from '../../dom';
import { changed, type Form } from './state';

export interface FieldSpec {
  key: string;
  label: string;
  value: string;
  set: (value: string) => void;
  placeholder?: string;
  hint?: string | TemplateResult;
  readonly?: boolean;
  /** A `<datalist>` id to suggest from. */
  list?: string;
  inputmode?: 'numeric' | 'decimal';
  wide?: boolean;
}

const errorId = (formId: string, key: string) => `${formId}-${key}-error`;

/** The message for `key` (hidden when none), for a field or a group of them. */
export function fieldError(formId: string, form: Form, key: string) {
  const err = form.errors[key] ?? '';
  return html`<small class="field-error" id=${errorId(formId, key)} data-error-for=${key} role=${err ? 'alert' : nothing}
    ?hidden=${!err}>${err}</small>`;
}

export function input(formId: string, form: Form, f: FieldSpec) {
  const err = form.errors[f.key];
  return html`<label class="field ${f.wide ? 'wide' : ''}" data-field=${f.key}>
    <span class="label">${f.label}</span>
    <input
      name=${f.key}
      .value=${live(f.value)}
      placeholder=${f.placeholder ?? nothing}
      list=${f.list ?? nothing}
      inputmode=${f.inputmode ?? nothing}
      ?readonly=${Boolean(f.readonly)}
      autocomplete="off"
      spellcheck="false"
      aria-invalid=${err ? 'true' : 'false'}
      aria-describedby=${errorId(formId, f.key)}
      @input=${(e: Event) => f.set((e.target as HTMLInputElement).value)}
    />
    ${f.hint ? html`<small class="hint">${f.hint}</small>` : nothing} ${fieldError(formId, form, f.key)}
  </label>`;
}

export function select(
  formId: string,
  form: Form,
  f: { key: string; label: string; value: string; options: readonly string[]; set: (value: string) => void; hint?: string },
) {
  const err = form.errors[f.key];
  // A value the file has that is not among the options stays choosable (the validator says
  // what is wrong with it).
  const options = f.value && !f.options.includes(f.value) ? [...f.options, f.value] : f.options;
  return html`<label class="field" data-field=${f.key}>
    <span class="label">${f.label}</span>
    <select
      name=${f.key}
      aria-invalid=${err ? 'true' : 'false'}
      aria-describedby=${errorId(formId, f.key)}
      @change=${(e: Event) => f.set((e.target as HTMLSelectElement).value)}
    >
      ${options.map((o) => html`<option value=${o} ?selected=${o === f.value}>${o}</option>`)}
    </select>
    ${f.hint ? html`<small class="hint">${f.hint}</small>` : nothing} ${fieldError(formId, form, f.key)}
  </label>`;
}

export function checkbox(
  formId: string,
  form: Form,
  f: { key: string; label: string; checked: boolean; set: (checked: boolean) => void },
) {
  return html`<div class="field check" data-field=${f.key}>
    <label
      ><input
        type="checkbox"
        name=${f.key}
        .checked=${live(f.checked)}
        aria-describedby=${errorId(formId, f.key)}
        @change=${(e: Event) => f.set((e.target as HTMLInputElement).checked)}
      />
      ${f.label}</label
    >
    ${fieldError(formId, form, f.key)}
  </div>`;
}

/** An argv list: the program, then one input per argument; add and remove. Edits `argv` in
 *  place. */
export function argvEditor(
  formId: string,
  form: Form,
  o: {
    key: string;
    label: string;
    argv: string[];
    hint?: string | TemplateResult;
    name?: string;
    /** The list to change when it is not `argv` itself (a draft made on the first edit). */
    mutable?: () => string[];
  },
) {
  const err = form.errors[o.key];
  const name = o.name ?? o.key;
  const list = () => o.mutable?.() ?? o.argv;
  const add = (e: Event) => {
    list().push('');
    changed();
    const set = (e.currentTarget as HTMLElement).closest('fieldset');
    set?.querySelector<HTMLInputElement>('li:last-child input')?.focus();
  };
  return html`<fieldset class="argv ${err ? 'invalid' : ''}" data-field=${o.key} data-argv=${name}>
    <legend>${o.label}</legend>
    <ol>
      ${o.argv.map(
        (arg, i) =>
          html`<li>
            <input
              name="${name}-${i}"
              .value=${live(arg)}
              aria-label=${i === 0 ? `${o.label}: program` : `${o.label}: argument ${i}`}
              placeholder=${i === 0 ? 'program' : 'argument'}
              autocomplete="off"
              spellcheck="false"
              aria-describedby=${errorId(formId, o.key)}
              @input=${(e: Event) => {
                list()[i] = (e.target as HTMLInputElement).value;
              }}
            />
            <button
              type="button"
              class="remove"
              title="Remove"
              aria-label=${i === 0 ? `Remove the program` : `Remove argument ${i}`}
              @click=${() => {
                list().splice(i, 1);
                changed();
              }}
            >
              ×
            </button>
          </li>`,
      )}
    </ol>
    <button type="button" class="add" @click=${add}>${o.argv.length ? 'Add argument' : 'Add the program'}</button>
    ${o.hint ? html`<small class="hint">${o.hint}</small>` : nothing} ${fieldError(formId, form, o.key)}
  </fieldset>`;
}

/** A form's banner: what a write did, or why it did not. */
export function formNotice(form: Form) {
  if (form.notice) {
    return html`<p class="form-notice ${form.changed ? 'changed' : 'error'}" role="alert">${form.notice}</p>`;
  }
  if (form.done) return html`<p class="form-notice done" role="status">${form.done}</p>`;
  return nothing;
}

/** The step a delete asks first, in the entry's row: the question, then Delete (runs
 *  `remove`, the button busy meanwhile) or Cancel. */
export function confirmDelete(
  id: string,
  question: string,
  remove: () => Promise<void>,
  cancel: () => void,
): TemplateResult {
  return html`<span class="confirm" role="alert"
    >${question}
    <button
      type="button"
      class="danger"
      data-confirm-delete=${id}
      @click=${(e: Event) => busy(e.currentTarget as HTMLElement, remove)}
    >
      Delete</button
    ><button type="button" data-cancel-delete=${id} @click=${cancel}>Cancel</button></span
  >`;
}
