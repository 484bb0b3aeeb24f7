// Server-sent events read from a fetch() body a network chunk at a time: the `data` of every
// complete event in the chunk is parsed with one JSON.parse and handed over as one batch.
//
// Why not EventSource: it dispatches one DOM event per message, a network chunk's worth of
// them in one task. At 10,000 providers a probe tick is 10,000 messages within a second or
// two (~10 MB with full sparklines); EventSource alone then made tasks of 50 ms and more, and
// fell far enough behind for the server to drop messages and send `resync` (the UI then
// reloads everything). Read here, the same tick costs ~0.1 s of the main thread in small
// tasks (measured with benches/ui_scale.mjs; docs/benchmarks.md).
//
// Owns: the wire format (`data:` lines, joined with newlines when an event has several;
// comments and other fields ignored; events end with a blank line; CRLF or LF), batching,
// and skipping a malformed event. Not connecting or reconnecting: api.ts does that.

/** Reads events from `body` until it ends, calling `onBatch` with the parsed `data` of the
 *  events completed by each chunk (never with an empty batch). Rejects when the stream
 *  fails (a dropped connection, an abort). */
export async function readEvents(
  body: ReadableStream<Uint8Array>,
  onBatch: (values: unknown[]) => void,
): Promise<void> {
  const reader = body.getReader();
  const text = new TextDecoder();
  let pending = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    pending += text.decode(value, { stream: true });
    if (pending.includes('\r')) pending = pending.replace(/\r\n?/g, '\n');
    const end = pending.lastIndexOf('\n\n');
    if (end < 0) continue;
    const data = dataOf(pending.slice(0, end));
    pending = pending.slice(end + 2);
    if (data.length) {
      const values = parse(data);
      if (values.length) onBatch(values);
    }
  }
}

/** The `data` of each event in `block` (complete events, separated by blank lines). */
function dataOf(block: string): string[] {
  const out: string[] = [];
  for (const event of block.split('\n\n')) {
    let data: string | null = null;
    for (const line of event.split('\n')) {
      if (!line.startsWith('data:')) continue;
      const value = line.slice(line.charCodeAt(5) === 32 ? 6 : 5);
      data = data === null ? value : `${data}\n${value}`;
    }
    if (data !== null) out.push(data);
  }
  return out;
}

/** All of them in one parse; when that fails, one by one, skipping those that are not JSON. */
function parse(data: string[]): unknown[] {
  try {
    return JSON.parse(`[${data.join(',')}]`) as unknown[];
  } catch {
    const out: unknown[] = [];
    for (const d of data) {
      try {
        out.push(JSON.parse(d));
      } catch {
        /* a malformed event is skipped, never fatal */
      }
    }
    return out;
  }
}
