// The fleet as the overview shows it: the latest view of every provider, the state each one
// counts as (its category), the counts per category for the whole fleet and per node, the
// filter, which nodes are collapsed, and the rows the overview lists: a header per node,
// then its providers, problems first, ids in natural order (p2 before p10).
//
// Owns no DOM and no timing. A live update (`update`) costs O(1): a map write and, when the
// provider's category changed, a few counter moves. The row list is rebuilt only when
// `rows()` is asked for and something that orders or filters it changed since (a category,
// the filter, a collapse, a provider added or removed): the caller decides how often that
// is (the overview: at most once per animation frame).
//
// Order: nodes with the worst problem first (then by name, naturally); inside a node
// down (open breaker), half-open, degraded (closed but the last probe failed or was not
// "up"), up, disabled; then the id, naturally.

import type { ProviderView } from './types';

export type Category = 'down' | 'half_open' | 'degraded' | 'up' | 'disabled';

/** The categories, worst first: the order of rows and of the counts. */
export const CATEGORIES: readonly Category[] = ['down', 'half_open', 'degraded', 'up', 'disabled'];

/** How a count names its category ("7 down", "3 half-open"). */
export const CATEGORY_LABEL: Record<Category, string> = {
  down: 'down',
  half_open: 'half-open',
  degraded: 'degraded',
  up: 'up',
  disabled: 'disabled',
};

/** The words the filter finds a category by: its label, the badge's word, the breaker
 *  state and the status (a half-open provider's badge says DEGRADED). */
const CATEGORY_WORDS: Record<Category, string> = {
  down: 'down open error',
  half_open: 'half-open half_open degraded trial',
  degraded: 'degraded warning',
  up: 'up ok closed',
  disabled: 'disabled',
};

const INDEX: Record<Category, number> = { down: 0, half_open: 1, degraded: 2, up: 3, disabled: 4 };

export function categoryOf(p: ProviderView): Category {
  if (p.status === 'disabled') return 'disabled';
  if (p.state === 'open') return 'down';
  if (p.state === 'half_open') return 'half_open';
  return p.status === 'ok' ? 'up' : 'degraded';
}

export type Counts = Record<Category, number>;

const zero = (): Counts => ({ down: 0, half_open: 0, degraded: 0, up: 0, disabled: 0 });

/** The worst category with a member, or null for none. */
export const worst = (c: Counts): Category | null => CATEGORIES.find((k) => c[k] > 0) ?? null;

/** Natural order: "p2" before "p10", case and accents second. */
export const natural = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** A node's header row, or a provider's row. */
export type Row =
  | { kind: 'group'; key: string; node: string; counts: Counts; size: number; matching: number; collapsed: boolean }
  | { kind: 'provider'; key: string; id: string };

interface Entry {
  view: ProviderView;
  category: Category;
  /** Category first, then the id's place in natural order: one number to sort by. */
  order: number;
  /** What the filter searches, lower case. */
  text: string;
}

interface NodeTally {
  counts: Counts;
  size: number;
}

/** What an update changed, for the caller's bookkeeping. */
export interface Change {
  /** Its category changed (counts changed; the row order may have). */
  moved: boolean;
  /** It is or was down (the incident banner names the down ones). */
  down: boolean;
}

export class Fleet {
  private entries = new Map<string, Entry>();
  private nodes = new Map<string, NodeTally>();
  /** Every id's place in natural order; stale when ids were added since it was made. */
  private ranks = new Map<string, number>();
  private ranksStale = false;
  private collapsed = new Set<string>();
  private terms: string[] = [];
  private built: Row[] = [];
  private dirty = true;
  /** Counts for the whole fleet. */
  readonly totals: Counts = zero();
  /** The ids whose breaker is open. */
  readonly down = new Set<string>();
  /** How many providers the filter let through at the last build (all without a filter). */
  matching = 0;

  get size(): number {
    return this.entries.size;
  }

  /** Whether `rows()` would build a new list. */
  get stale(): boolean {
    return this.dirty;
  }

  get(id: string): ProviderView | undefined {
    return this.entries.get(id)?.view;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** Replaces the whole fleet (the first load, a reload, a resync). A provider checked
   *  later than in `list` (a live update that came while the list was on its way) keeps its
   *  newer view: a reload never takes a provider back in time. */
  set(list: ProviderView[]): void {
    const known = this.entries;
    this.entries = new Map();
    this.nodes.clear();
    this.down.clear();
    Object.assign(this.totals, zero());
    this.rank(list.map((p) => p.id));
    for (const p of list) {
      const mine = known.get(p.id)?.view;
      this.add(mine && checkedAt(mine) > checkedAt(p) ? mine : p);
    }
    this.dirty = true;
  }

  /** One provider's new view. */
  update(p: ProviderView): Change {
    const before = this.entries.get(p.id);
    if (!before) {
      // A new id (a config reload added it): ranked with the rest when the rows are built,
      // once, however many arrive.
      this.ranksStale = true;
      this.add(p);
      this.dirty = true;
      return { moved: true, down: p.state === 'open' };
    }
    const category = categoryOf(p);
    const wasDown = before.category === 'down';
    if (before.view.node !== p.node) {
      this.remove(before);
      this.add(p);
      this.dirty = true;
      return { moved: true, down: wasDown || category === 'down' };
    }
    before.view = p;
    if (category === before.category) return { moved: false, down: wasDown };
    this.count(before, -1);
    before.category = category;
    before.order = orderOf(category, this.rankOf(p.id));
    before.text = textOf(p, category);
    this.count(before, 1);
    this.dirty = true;
    return { moved: true, down: wasDown || category === 'down' };
  }

  /** The filter: whitespace-separated words, each must appear in the id, node, service or
   *  state (case-insensitive). Answers whether it changed. */
  setFilter(text: string): boolean {
    const terms = text.toLowerCase().split(/\s+/).filter(Boolean);
    if (terms.join(' ') === this.terms.join(' ')) return false;
    this.terms = terms;
    this.dirty = true;
    return true;
  }

  get filtering(): boolean {
    return this.terms.length > 0;
  }

  /** Collapses or expands one node's rows. */
  toggle(node: string): void {
    if (!this.collapsed.delete(node)) this.collapsed.add(node);
    this.dirty = true;
  }

  /** Collapses every node (true) or none (false). */
  collapseAll(on: boolean): void {
    this.collapsed.clear();
    if (on) for (const node of this.nodes.keys()) this.collapsed.add(node);
    this.dirty = true;
  }

  get allCollapsed(): boolean {
    return this.nodes.size > 0 && [...this.nodes.keys()].every((n) => this.collapsed.has(n));
  }

  /** The rows to show, rebuilt when something that orders or filters them changed. */
  rows(): Row[] {
    if (!this.dirty) return this.built;
    this.ensureRanked();
    const byNode = new Map<string, Entry[]>();
    let matching = 0;
    for (const e of this.entries.values()) {
      if (this.terms.length && !this.terms.every((t) => e.text.includes(t))) continue;
      matching++;
      let list = byNode.get(e.view.node);
      if (!list) byNode.set(e.view.node, (list = []));
      list.push(e);
    }
    const nodes = [...byNode.keys()].map((name) => ({ name, node: this.nodes.get(name)! }));
    const worstIndex = (n: NodeTally) => INDEX[worst(n.counts) ?? 'disabled'];
    nodes.sort((a, b) => worstIndex(a.node) - worstIndex(b.node) || natural.compare(a.name, b.name));
    const rows: Row[] = [];
    for (const { name, node } of nodes) {
      const members = byNode.get(name)!;
      const collapsed = this.collapsed.has(name);
      rows.push({
        kind: 'group',
        key: `g:${name}`,
        node: name,
        counts: { ...node.counts },
        size: node.size,
        matching: members.length,
        collapsed,
      });
      if (collapsed) continue;
      members.sort((a, b) => a.order - b.order);
      for (const e of members) rows.push({ kind: 'provider', key: `p:${e.view.id}`, id: e.view.id });
    }
    this.matching = matching;
    this.built = rows;
    this.dirty = false;
    return rows;
  }

  /** The first `k` down providers in natural order of their ids (for the incident banner:
   *  a few names, then how many more), in O(down × k). */
  firstDown(k: number): ProviderView[] {
    this.ensureRanked();
    const first: { rank: number; view: ProviderView }[] = [];
    for (const id of this.down) {
      const rank = this.rankOf(id);
      if (first.length === k && rank > first[k - 1].rank) continue;
      let i = first.length;
      while (i > 0 && first[i - 1].rank > rank) i--;
      first.splice(i, 0, { rank, view: this.entries.get(id)!.view });
      if (first.length > k) first.pop();
    }
    return first.map((f) => f.view);
  }

  private rank(ids: string[]): void {
    // Sorting is fast on input that is sorted already, as a config usually is.
    ids.sort(natural.compare);
    this.ranks.clear();
    ids.forEach((id, i) => this.ranks.set(id, i));
    this.ranksStale = false;
  }

  /** An id's place in natural order (a new one's is after all others until the next rank). */
  private rankOf(id: string): number {
    return this.ranks.get(id) ?? this.ranks.size;
  }

  /** Ranks every id again if new ones came, and with them each provider's sort key. */
  private ensureRanked(): void {
    if (!this.ranksStale) return;
    this.rank([...this.entries.keys()]);
    for (const e of this.entries.values()) e.order = orderOf(e.category, this.rankOf(e.view.id));
  }

  private add(p: ProviderView): void {
    const category = categoryOf(p);
    const e: Entry = { view: p, category, order: orderOf(category, this.rankOf(p.id)), text: textOf(p, category) };
    this.entries.set(p.id, e);
    let node = this.nodes.get(p.node);
    if (!node) this.nodes.set(p.node, (node = { counts: zero(), size: 0 }));
    node.size++;
    this.count(e, 1);
  }

  private remove(e: Entry): void {
    this.count(e, -1);
    this.entries.delete(e.view.id);
    const node = this.nodes.get(e.view.node)!;
    if (--node.size === 0) this.nodes.delete(e.view.node);
  }

  private count(e: Entry, by: 1 | -1): void {
    this.totals[e.category] += by;
    this.nodes.get(e.view.node)!.counts[e.category] += by;
    if (e.category === 'down') {
      if (by > 0) this.down.add(e.view.id);
      else this.down.delete(e.view.id);
    }
  }
}

const checkedAt = (p: ProviderView) => (p.last_checked_at ? Date.parse(p.last_checked_at) : 0);

const orderOf = (c: Category, rank: number) => INDEX[c] * 1e9 + rank;

const textOf = (p: ProviderView, c: Category) => `${p.id}\n${p.node}\n${p.service}\n${CATEGORY_WORDS[c]}`.toLowerCase();
