// What the Pipeline view knows and how it stays current: the last answer of
// `/api/sessions` with the pushed status and processors applied, why the last fetch failed,
// refusals of Run now, and the fetching (at most one per 500 ms, never two at once, nothing
// while the view is hidden). A fetch answered after a push is older than that push for
// what the push carries. Also the nav marker ("!" while the pipeline is in warning).

import { api } from '../../api';
import { el } from '../../dom';
import type { PipelineLevel, PipelineUpdate, SessionsView, StatusView } from '../../types';

export const state = {
  /** The last full answer of `/api/sessions`, with the pushed status and processors applied. */
  data: null as SessionsView | null,
  /** Why the last fetch failed (shown above the last good data). */
  loadError: null as string | null,
  configPath: null as string | null,
  /** The last change of level, in words, for screen readers. */
  said: '',
};
/** What went wrong with the last Run now of a processor, shown next to its button. */
export const notices = new Map<string, string>();

/** Counts pushed updates: a fetch answered after one is older than it for what it pushes. */
let updateSeq = 0;
/** Counts pushed levels (status views and updates), for the same reason, for the nav marker. */
let levelSeq = 0;
let fetchTimer = 0;
let fetching = false;
let fetchAgain = false;
let onChange = () => {};
let shown = () => false;

/** Sets what a change does (the view renders itself) and how to tell the view is shown. */
export function whenChanged(f: () => void, isShown: () => boolean): void {
  onChange = f;
  shown = isShown;
}

export const pushes = () => updateSeq;

/** Shows what changed (the view renders itself if it is shown). */
export function changed(): void {
  onChange();
}

// ---- the nav marker ---------------------------------------------------------------------

/** "!" next to the nav link while the pipeline is in warning; the link's name says it too. */
export const mark = el('span', { class: 'count pipeline-mark', 'data-pipeline-mark': '', hidden: '', 'aria-hidden': 'true' }, '!');

function setLevel(level: PipelineLevel | null | undefined, detail?: string): void {
  const warn = level === 'warning';
  mark.hidden = !warn;
  const link = mark.parentElement;
  if (!link) return;
  if (warn) {
    link.setAttribute('aria-label', 'Pipeline, warning');
    link.title = `The session pipeline needs attention${detail ? `: ${detail}` : ''}`;
  } else {
    link.removeAttribute('aria-label');
    link.removeAttribute('title');
  }
}

/** From every status: the level for the nav marker, the config path for the explanation. */
export function noteStatus(s: StatusView): void {
  state.configPath = s.config_path;
  levelSeq++;
  // The pushed pipeline status carries the detail; the status view only the level.
  setLevel(s.pipeline, s.pipeline === state.data?.status.status ? state.data?.status.detail : undefined);
}

/** A `pipeline` update: status and processors at once, then the rest fetched again. */
export function applyUpdate(u: PipelineUpdate): void {
  updateSeq++;
  levelSeq++;
  setLevel(u.status.status, u.status.detail);
  const data = state.data;
  if (data?.configured) {
    for (const p of u.processors) {
      const before = data.processors.find((b) => b.name === p.name);
      // The refusal said "it is running": once that run ended, it no longer holds.
      if (before && (before.last_run_finished_at !== p.last_run_finished_at || (before.running && !p.running))) {
        notices.delete(p.name);
      }
    }
    if (data.status.status !== u.status.status) state.said = `Pipeline ${u.status.status}: ${u.status.detail ?? ''}`;
    data.status = u.status;
    data.processors = u.processors;
    data.files.count = u.files;
    onChange();
  }
  scheduleRefetch();
}

/** At most one fetch per 500 ms, never two at once; nothing while the view is hidden. */
export function scheduleRefetch(): void {
  if (!shown() || fetchTimer) return;
  fetchTimer = window.setTimeout(() => {
    fetchTimer = 0;
    void fetchNow();
  }, 500);
}

export async function fetchNow(): Promise<void> {
  if (fetching) {
    fetchAgain = true;
    return;
  }
  fetching = true;
  const seq = updateSeq;
  const levels = levelSeq;
  try {
    const fresh = await api.sessions();
    const data = state.data;
    // A push that arrived meanwhile is newer than this answer for what it carries.
    if (seq !== updateSeq && data?.configured && fresh.configured) {
      fresh.status = data.status;
      fresh.processors = data.processors;
      fresh.files.count = Math.max(fresh.files.count, data.files.count);
    }
    state.data = fresh;
    state.loadError = null;
    if (levels === levelSeq) setLevel(fresh.configured ? fresh.status.status : null, fresh.status.detail);
  } catch (e) {
    state.loadError = (e as Error).message;
  } finally {
    fetching = false;
  }
  onChange();
  if (fetchAgain) {
    fetchAgain = false;
    scheduleRefetch();
  }
}
