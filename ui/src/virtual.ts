// A window over a long list of rows inside a scrolling element: which rows belong in the
// page (those in view and a few either side) and how tall the space before and after them
// is, so that the scroll bar stands for the whole list while only a screenful is rendered.
// Every row has one height (measured from a rendered row by the caller); one row may be
// taller (an expanded detail), with its own measured height.
//
// Owns: the arithmetic from a scroll position to rows and back, and the scroll moves that
// keep a row in view (`reveal`) or at the same place on screen (`placeOf` / `pin`).
// Does not own rendering or timing: the caller renders the rows `span` gives, with two
// spacers of the heights it gives, whenever it likes (the overview: once per frame).

export interface Span {
  /** The first row to render. */
  start: number;
  /** One past the last row to render. */
  end: number;
  /** Height of the space before `start` and after `end - 1`, in px. */
  before: number;
  after: number;
}

export class VirtualWindow {
  /** The height of every row but the tall one, in px. */
  rowHeight: number;
  /** Space inside the scroller above the first row (a sticky table header), in px. */
  top = 0;
  private tall: { index: number; height: number } | null = null;

  constructor(
    readonly scroller: HTMLElement,
    rowHeight: number,
    /** Rows rendered beyond each edge of the view, so a short scroll shows no gap. */
    private overscan = 8,
  ) {
    this.rowHeight = rowHeight;
  }

  /** Row `index` is `height` px tall (null: no row is taller than the others). */
  setTall(index: number | null, height = 0): void {
    this.tall = index === null ? null : { index, height };
  }

  /** Where row `i` starts, from the first row's top. */
  offsetOf(i: number): number {
    const t = this.tall;
    return i * this.rowHeight + (t && i > t.index ? t.height - this.rowHeight : 0);
  }

  /** The row at `y` px from the first row's top (may be past the end). */
  indexAt(y: number): number {
    const h = this.rowHeight;
    const t = this.tall;
    if (y <= 0) return 0;
    if (!t || y < t.index * h) return Math.floor(y / h);
    if (y < t.index * h + t.height) return t.index;
    return t.index + 1 + Math.floor((y - t.index * h - t.height) / h);
  }

  /** The rows to render out of `count` for the scroll position `scrollTop` (default: the
   *  scroller's own). */
  span(count: number, scrollTop = this.scroller.scrollTop): Span {
    const from = scrollTop - this.top;
    const to = from + this.scroller.clientHeight;
    const start = Math.max(0, Math.min(count, this.indexAt(from) - this.overscan));
    const end = Math.max(start, Math.min(count, this.indexAt(to) + 1 + this.overscan));
    return { start, end, before: this.offsetOf(start), after: this.offsetOf(count) - this.offsetOf(end) };
  }

  /** Row `i`'s top relative to the top of the view (below the sticky header), in px. */
  placeOf(i: number, scrollTop = this.scroller.scrollTop): number {
    return this.offsetOf(i) - scrollTop;
  }

  /** The scroll position that puts row `i` at `place` (as `placeOf` measures it). */
  pin(i: number, place: number): number {
    return Math.max(0, this.offsetOf(i) - place);
  }

  /** The scroll position that brings row `i` into view with the least movement. */
  reveal(i: number, scrollTop = this.scroller.scrollTop): number {
    const place = this.placeOf(i, scrollTop);
    const height = this.tall?.index === i ? this.tall.height : this.rowHeight;
    const room = this.scroller.clientHeight - this.top;
    if (place < 0) return scrollTop + place;
    if (place + height > room) return scrollTop + Math.min(place, place + height - room);
    return scrollTop;
  }
}
