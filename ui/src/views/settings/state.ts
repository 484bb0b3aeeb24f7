// The Settings view's state: the config document as last read, the forms open on it, and
// the one way a form writes to the file (`write`).
// Every write carries the revision the form's input was made on. A form takes the
// document's revision when it opens (or, for an always-shown section, when its input first
// changes); a write of this page moves the other open forms made on the same revision to
// the new one (the page knows what it changed), so only a change made elsewhere (an editor,
// another window) answers `config_changed`: the form then says so, the document is read
// again, the input stays, and saving again writes it on the new revision.

import { api, ApiError } from '../../api';
import type { ConfigDocument, FieldIssue } from '../../generated/types';

export const state = {
  doc: null as ConfigDocument | null,
  loadError: null as string | null,
};

/** What a form shows besides its input. */
export interface Form {
  /** What it edits (`provider:web`, `section:probe`); a new entry's is `provider:`. */
  target: string;
  /** The file's revision its input was made on (the write's `If-Match`). */
  base: string;
  /** Messages by key of the entry or section (`url`), shown next to that field. */
  errors: Record<string, string>;
  /** A message for the form as a whole (a banner at it). */
  notice: string;
  /** The notice says the file changed on disk (`config_changed`). */
  changed: boolean;
  /** What the last write did, in words ("Saved."). */
  done: string;
}

export const CHANGED =
  'The config file changed on disk since this page read it. It has been read again (the ' +
  'lists show it as it is now) and your input is kept: check it and try again.';

let redraw = () => {};

/** Sets what draws the view again after a change. */
export function onChange(draw: () => void): void {
  redraw = draw;
}

/** Draws the view again. */
export function changed(): void {
  redraw();
}

/** Forms whose input is kept across writes (moved to a new revision by this page's own
 *  writes). */
const open = new Set<Form>();

/** A form on the document as it is now; `keep`: registered as open until `closeForm`. */
export function newForm(target: string, keep = true): Form {
  const form: Form = { target, base: state.doc?.revision ?? '', errors: {}, notice: '', changed: false, done: '' };
  if (keep) open.add(form);
  return form;
}

export function closeForm(form: Form | null | undefined): void {
  if (form) open.delete(form);
}

/** Clears what a form says (before a write, or when its input is discarded). */
export function clearMessages(form: Form): void {
  form.errors = {};
  form.notice = '';
  form.changed = false;
  form.done = '';
}

let loading: Promise<void> | null = null;
let loadAgain = false;

/** Reads the document (again); one read at a time, and one more at most when asked for
 *  meanwhile. */
export function load(): Promise<void> {
  if (loading) {
    loadAgain = true;
    return loading;
  }
  loading = (async () => {
    do {
      loadAgain = false;
      try {
        state.doc = await api.config();
        state.loadError = null;
      } catch (e) {
        state.loadError = (e as Error).message;
      }
    } while (loadAgain);
  })().finally(() => {
    loading = null;
    changed();
  });
  return loading;
}

/** The key an issue is about inside the edited entry or section (`url`, `interval`). */
export function issueKey(issue: FieldIssue, section?: string): string | null {
  if (issue.key) return issue.key;
  if (section && issue.field.startsWith(`${section}.`)) {
    return issue.field.slice(section.length + 1).split(/[.[]/)[0] || null;
  }
  return null;
}

/** Where a refused edit's issues go: each next to its field when the form shows one for
 *  its key (`placed`), the rest in the form's notice. */
export function showIssues(form: Form, err: ApiError, placed: (key: string) => boolean, section?: string): void {
  const rest: string[] = [];
  for (const issue of err.issues) {
    const key = issueKey(issue, section);
    if (key && placed(key)) {
      form.errors[key] = form.errors[key] ? `${form.errors[key]}; ${issue.message}` : issue.message;
    } else {
      rest.push(`${issue.field}${issue.line !== null ? ` (line ${issue.line})` : ''}: ${issue.message}`);
    }
  }
  if (!err.issues.length) rest.push(err.message);
  form.notice = rest.length ? `Not saved: ${rest.join('; ')}` : 'Not saved: see the marked fields.';
}

export interface WriteOptions {
  /** Whether the form shows a field for a key (its issues go there). */
  placed?: (key: string) => boolean;
  /** The section a section edit changes (its issues name `probe.interval`). */
  section?: string;
}

/**
 * Runs one edit of the file made on `form.base`. On success the page takes the document it
 * answers (and the other open forms made on the same revision move to it). On
 * `config_changed` the form says the file changed, the document is read again and the form
 * moves to it (its input is the caller's and stays); on `invalid_config` each issue goes
 * next to its field; anything else goes in the form's notice. Resolves to whether it wrote.
 */
export async function write(
  form: Form,
  edit: (revision: string) => Promise<ConfigDocument>,
  options: WriteOptions = {},
): Promise<boolean> {
  clearMessages(form);
  changed();
  const placed = options.placed ?? (() => false);
  try {
    const from = form.base;
    const doc = await edit(from);
    state.doc = doc;
    state.loadError = null;
    for (const other of open) {
      if (other !== form && other.base === from && other.target !== form.target) other.base = doc.revision;
    }
    form.base = doc.revision;
    return true;
  } catch (e) {
    const err = e instanceof ApiError ? e : new ApiError('internal', (e as Error)?.message ?? String(e));
    if (err.code === 'config_changed') {
      form.changed = true;
      form.notice = CHANGED;
      await load();
      const now = typeof err.details.revision === 'string' ? err.details.revision : form.base;
      form.base = state.doc && state.loadError === null ? state.doc.revision : now;
    } else if (err.code === 'invalid_config') {
      showIssues(form, err, placed, options.section);
    } else if (err.code === 'conflict' && placed('id')) {
      form.errors.id = err.message;
      form.notice = 'Not saved: see the marked fields.';
    } else {
      form.notice = `Not saved: ${err.message}`;
    }
    return false;
  } finally {
    changed();
  }
}

/** A config value as an input shows it: strings as they are, numbers and booleans as
 *  written, nothing as empty. */
export function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** The config's object at `key` (a section, an entry), or an empty one. */
export function record(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

const listed = new WeakMap<ConfigDocument, Map<string, Record<string, unknown>[]>>();
const NONE: Record<string, unknown>[] = [];

/** The entries of `[[providers]]` or `[[models]]` as the file has them; the same array for
 *  the same document (a list rendered again only when the document changed). */
export function entries(key: 'providers' | 'models'): Record<string, unknown>[] {
  const doc = state.doc;
  if (!doc) return NONE;
  let lists = listed.get(doc);
  if (!lists) listed.set(doc, (lists = new Map()));
  let list = lists.get(key);
  if (!list) {
    const raw = doc.config[key];
    list = Array.isArray(raw) ? raw.map(record) : NONE;
    lists.set(key, list);
  }
  return list;
}

/** JSON with object keys sorted, to compare values however their keys are ordered. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** What an edited entry changes: the keys whose value differs from the entry as the form
 *  got it, and `null` for those it no longer has. Sent as a patch, so a value the person
 *  did not touch is never sent back (a URL whose password reads "(hidden)" stays as the
 *  file has it; a change made elsewhere to another key of the entry stays too). */
export function changes(fields: Record<string, unknown>, original: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) if (canonical(v) !== canonical(original[k])) out[k] = v;
  for (const k of Object.keys(original)) if (!(k in fields)) out[k] = null;
  return out;
}

/** A whole number typed into a field, or an error message. */
export function wholeNumber(value: string): number | string {
  return /^-?\d+$/.test(value) ? Number(value) : `"${value}" is not a whole number`;
}
