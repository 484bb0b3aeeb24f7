// Settings: the sections of the config file edited key by key (`PATCH /api/config/{section}`):
// the probe defaults, the planner's cooldown and threshold, the executor's limits and its
// command templates (name → argv, with the placeholders they may use), and how long history
// is kept. A section's form shows the file's values until its input changes; then it keeps
// the input (made on the revision of that moment) until it is saved or discarded. A save
// sends only the keys that differ from the file; an emptied field removes its key (the
// default applies).

import { api, type ConfigSection, type Fields } from '../../api';
import { busy, html, live, nothing } from '../../dom';
import { argvEditor, fieldError, formNotice, input } from './fields';
import { changed, clearMessages, closeForm, newForm, record, state, text, wholeNumber, write, type Form } from './state';

interface SectionField {
  key: string;
  label: string;
  type: 'duration' | 'int' | 'float';
  /** What applies when the file does not set it. */
  fallback: string;
  hint?: string;
}

interface SectionSpec {
  section: ConfigSection;
  formId: string;
  title: string;
  intro: string;
  fields: SectionField[];
}

const SPECS: SectionSpec[] = [
  {
    section: 'probe',
    formId: 'probe-form',
    title: 'Probe defaults',
    intro: 'Every provider is probed with these unless it sets its own. Durations like "30s", "5m", "1h".',
    fields: [
      { key: 'interval', label: 'Interval', type: 'duration', fallback: '30s' },
      { key: 'timeout', label: 'Timeout', type: 'duration', fallback: '3s' },
      { key: 'failure_threshold', label: 'Failures to open', type: 'int', fallback: '2', hint: 'Consecutive failures that open the breaker' },
      { key: 'backoff', label: 'Backoff', type: 'duration', fallback: '60s', hint: 'How long an open breaker skips the provider' },
      { key: 'backoff_max', label: 'Backoff max', type: 'duration', fallback: '60s' },
      { key: 'confirm_after', label: 'Confirm after', type: 'duration', fallback: 'none', hint: 'Probe again this soon after a first failure' },
      { key: 'max_concurrency', label: 'Max concurrency', type: 'int', fallback: '64' },
      { key: 'raw_retention', label: 'Raw retention', type: 'duration', fallback: '48h' },
    ],
  },
  {
    section: 'planner',
    formId: 'planner-form',
    title: 'Planner',
    intro: 'One plan per node and service per cooldown; below the threshold a proposal waits for approval.',
    fields: [
      { key: 'cooldown', label: 'Cooldown', type: 'duration', fallback: '5m' },
      { key: 'confidence_threshold', label: 'Confidence threshold', type: 'float', fallback: 'none', hint: 'Between 0 and 1' },
    ],
  },
  {
    section: 'executor',
    formId: 'executor-form',
    title: 'Executor',
    intro: 'What an approved proposal may take and how long it waits for a decision.',
    fields: [
      { key: 'timeout', label: 'Command timeout', type: 'duration', fallback: '60s', hint: 'Then its process group is killed' },
      { key: 'proposal_ttl', label: 'Proposal expires after', type: 'duration', fallback: '15m' },
    ],
  },
  {
    section: 'store',
    formId: 'store-form',
    title: 'History',
    intro: 'Decided proposals, their audit rows and the timeline are kept this long.',
    fields: [{ key: 'keep', label: 'Keep', type: 'duration', fallback: '90d', hint: 'e.g. "90d", "2w", "720h"' }],
  },
];

/** A section's input since it changed (null: the file's values are shown) and its form. */
const drafts = new Map<ConfigSection, { values: Record<string, string> | null; form: Form | null }>();

const inFile = (section: string): Record<string, unknown> => record(state.doc?.config[section]);

function draftOf(spec: SectionSpec) {
  let d = drafts.get(spec.section);
  if (!d) drafts.set(spec.section, (d = { values: null, form: null }));
  return d;
}

function edit(spec: SectionSpec, key: string, value: string): void {
  const d = draftOf(spec);
  if (!d.values) {
    const file = inFile(spec.section);
    d.values = Object.fromEntries(spec.fields.map((f) => [f.key, text(file[f.key])]));
    closeForm(d.form);
    d.form = newForm(`section:${spec.section}`);
    d.values[key] = value;
    changed(); // shows Discard
    return;
  }
  d.values[key] = value;
}

async function save(spec: SectionSpec): Promise<void> {
  const d = draftOf(spec);
  if (!d.values || !d.form) return;
  const form = d.form;
  const file = inFile(spec.section);
  const fields: Fields = {};
  const errors: Record<string, string> = {};
  for (const f of spec.fields) {
    const typed = (d.values[f.key] ?? '').trim();
    if (typed === text(file[f.key])) continue;
    if (typed === '') {
      if (f.key in file) fields[f.key] = null;
      continue;
    }
    if (f.type === 'duration') fields[f.key] = typed;
    else if (f.type === 'int') {
      const n = wholeNumber(typed);
      if (typeof n === 'number') fields[f.key] = n;
      else errors[f.key] = n;
    } else {
      const n = Number(typed);
      if (Number.isFinite(n)) fields[f.key] = n;
      else errors[f.key] = `"${typed}" is not a number`;
    }
  }
  if (Object.keys(errors).length) {
    clearMessages(form);
    form.errors = errors;
    form.notice = 'Not saved: see the marked fields.';
    changed();
    return;
  }
  if (!Object.keys(fields).length) {
    d.values = null;
    clearMessages(form);
    form.done = 'Nothing changed.';
    changed();
    return;
  }
  const keys = new Set(spec.fields.map((f) => f.key));
  const ok = await write(form, (revision) => api.updateSection(spec.section, fields, revision), {
    section: spec.section,
    placed: (key) => keys.has(key),
  });
  if (ok) {
    d.values = null;
    form.done = 'Saved.';
  }
}

function discard(spec: SectionSpec): void {
  const d = draftOf(spec);
  d.values = null;
  if (d.form) clearMessages(d.form);
  changed();
}

function sectionForm(spec: SectionSpec, extra: unknown = nothing) {
  const d = draftOf(spec);
  const file = inFile(spec.section);
  const form = d.form ?? newForm(`section:${spec.section}`, false);
  return html`<section class="settings-section" id="settings-${spec.section}" aria-labelledby="${spec.formId}-title">
    <form
      class="settings-form section-form"
      id=${spec.formId}
      novalidate
      @submit=${(e: Event) => {
        e.preventDefault();
        const button = (e.currentTarget as HTMLFormElement).querySelector<HTMLElement>('button.save');
        if (button) void busy(button, () => save(spec));
      }}
    >
      <h2 id="${spec.formId}-title">${spec.title}</h2>
      <p class="muted">${spec.intro}</p>
      <div class="fields">
        ${spec.fields.map((f) =>
          input(spec.formId, form, {
            key: f.key,
            label: f.label,
            value: d.values ? d.values[f.key] ?? '' : text(file[f.key]),
            placeholder: `default: ${f.fallback}`,
            inputmode: f.type === 'int' ? 'numeric' : f.type === 'float' ? 'decimal' : undefined,
            hint: f.hint,
            set: (value) => edit(spec, f.key, value),
          }),
        )}
      </div>
      ${formNotice(form)}
      <div class="form-actions">
        <button type="submit" class="primary save">Save ${spec.title.toLowerCase()}</button>
        <button type="button" ?hidden=${!d.values} @click=${() => discard(spec)}>Discard</button>
      </div>
    </form>
    ${extra}
  </section>`;
}

// --- executor command templates -----------------------------------------------------------

const COMMANDS_ID = 'commands-form';
let commands: { name: string; argv: string[] }[] | null = null;
let commandsForm: Form | null = null;

function fileCommands(): Record<string, unknown> {
  return record(inFile('executor').commands);
}

type CommandRow = { name: string; argv: string[] };

const rowsOf = (file: Record<string, unknown>): CommandRow[] =>
  Object.entries(file).map(([name, argv]) => ({ name, argv: Array.isArray(argv) ? argv.map(text) : [] }));

/** The commands being edited, made from the file's on the first edit (its form then takes
 *  the revision of that moment). */
function editedCommands(): CommandRow[] {
  if (!commands) {
    commands = rowsOf(fileCommands());
    closeForm(commandsForm);
    commandsForm = newForm('section:executor.commands');
    queueMicrotask(changed); // shows Discard
  }
  if (commandsForm?.done) commandsForm.done = '';
  return commands;
}

function editCommands(change: (rows: CommandRow[]) => void): void {
  change(editedCommands());
  changed();
}

async function saveCommands(): Promise<void> {
  if (!commands || !commandsForm) return;
  const form = commandsForm;
  const file = fileCommands();
  const patch: Record<string, unknown> = {};
  const problems: string[] = [];
  const names = new Set<string>();
  for (const row of commands) {
    const name = row.name.trim();
    const argv = row.argv.filter((a) => a !== '');
    if (!name) {
      if (argv.length) problems.push('a command has no name');
      continue;
    }
    if (names.has(name)) problems.push(`"${name}" is named twice`);
    names.add(name);
    if (!argv.length) problems.push(`"${name}" has no program`);
    if (JSON.stringify(argv) !== JSON.stringify(file[name])) patch[name] = argv;
  }
  for (const name of Object.keys(file)) if (!names.has(name)) patch[name] = null;
  clearMessages(form);
  if (problems.length) {
    form.errors = { commands: problems.join('; ') };
    form.notice = 'Not saved: see the marked fields.';
    changed();
    return;
  }
  if (!Object.keys(patch).length) {
    commands = null;
    form.done = 'Nothing changed.';
    changed();
    return;
  }
  const ok = await write(form, (revision) => api.updateSection('executor', { commands: patch }, revision), {
    section: 'executor',
    placed: (key) => key === 'commands',
  });
  if (ok) {
    commands = null;
    form.done = 'Saved the commands.';
  }
}

function commandsEditor() {
  const rows = commands ?? rowsOf(fileCommands());
  const form = commandsForm ?? newForm('section:executor.commands', false);
  return html`<form
    class="settings-form commands"
    id=${COMMANDS_ID}
    aria-labelledby="commands-title"
    novalidate
    @submit=${(e: Event) => {
      e.preventDefault();
      const button = (e.currentTarget as HTMLFormElement).querySelector<HTMLElement>('button.save');
      if (button) void busy(button, saveCommands);
    }}
  >
    <h3 id="commands-title">Command templates</h3>
    <p class="muted">
      What an approved proposal runs: an argv list, never a shell. Names:
      <code>container_restart</code>, <code>redeploy</code>, or one of them for one target
      (<code>container_restart:mosquitto</code>, <code>redeploy:piha/nginx</code>). Placeholders:
      <code>{node}</code> and <code>{service}</code>, in the arguments only (not in the program); only names from the
      providers are put in.
    </p>
    <ol class="command-list">
      ${rows.map(
        (row, i) =>
          html`<li data-command=${row.name}>
            <label class="field"
              ><span class="label">Name</span
              ><input
                name="command-name-${i}"
                .value=${live(row.name)}
                placeholder="container_restart"
                aria-label="Command ${i + 1} name"
                autocomplete="off"
                spellcheck="false"
                @input=${(e: Event) => {
                  editedCommands()[i].name = (e.target as HTMLInputElement).value;
                }}
            /></label>
            ${argvEditor(COMMANDS_ID, form, {
              key: `command-${i}`,
              name: `command-${i}`,
              label: 'Runs',
              argv: row.argv,
              mutable: () => editedCommands()[i].argv,
            })}
            <button
              type="button"
              class="danger remove-command"
              @click=${() => editCommands((c) => void c.splice(i, 1))}
            >
              Remove ${row.name || 'this command'}
            </button>
          </li>`,
      )}
    </ol>
    ${fieldError(COMMANDS_ID, form, 'commands')} ${formNotice(form)}
    <div class="form-actions">
      <button
        type="button"
        class="add"
        @click=${() => editCommands((c) => void c.push({ name: '', argv: [''] }))}
      >
        Add command
      </button>
      <button type="submit" class="primary save">Save commands</button>
      <button
        type="button"
        ?hidden=${!commands}
        @click=${() => {
          commands = null;
          clearMessages(form);
          changed();
        }}
      >
        Discard
      </button>
    </div>
  </form>`;
}

export function sectionsPart() {
  return html`${SPECS.map((spec) => sectionForm(spec, spec.section === 'executor' ? commandsEditor() : nothing))}`;
}
