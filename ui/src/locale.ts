// Imported first by main.ts. WebKitGTK under a POSIX locale (LANG=C) reports
// `navigator.language` as "C", which `Intl` rejects; uPlot formats numbers with it as
// soon as it loads, so the whole UI would fail. Fall back to en-US for such tags only.

try {
  new Intl.NumberFormat(navigator.language);
} catch {
  Object.defineProperty(navigator, 'language', { value: 'en-US', configurable: true });
  Object.defineProperty(navigator, 'languages', { value: ['en-US'], configurable: true });
}
