// A long JSON array of objects parsed a slice at a time, the page getting the main thread
// back between slices. The provider list at 10,000 providers with their sparklines is ~10 MB:
// one JSON.parse of it blocks the page for ~100 ms, which is fine for the first load (nothing
// is live yet, and one parse is the fastest way to the first rows) but not for a reload while
// live updates stream in (a `resync`, a config reload).
// Owns: where to cut (between two top-level objects: `},{"` cannot occur inside a JSON
// string, whose quotes are escaped) and the yielding. Falls back to one parse when a cut
// turns out not to be between elements (an element holding an array of objects).

/** Parses `text`, a JSON array of objects, in slices of about `sliceChars` characters. */
export async function parseInSlices<T>(text: string, sliceChars = 256 * 1024): Promise<T[]> {
  if (text.length <= sliceChars || !text.startsWith('[{')) return JSON.parse(text) as T[];
  const out: T[] = [];
  let start = 1; // just after '['
  try {
    while (start < text.length - 1) {
      const cut = text.indexOf('},{"', start + sliceChars);
      const end = cut < 0 ? text.length - 1 : cut + 1; // just after the slice's last '}'
      for (const item of JSON.parse(`[${text.slice(start, end)}]`) as T[]) out.push(item);
      start = end + 1; // past the ',' (or the closing ']')
      if (start < text.length - 1) await nextTask();
    }
  } catch {
    return JSON.parse(text) as T[];
  }
  return out;
}

/** Resolves in a new task, at once (no timer clamping). */
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}
