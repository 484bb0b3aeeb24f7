// Imported first by main.ts. WebKitGTK under a POSIX locale (LANG=C) reports
// `navigator.language` as "C", which `Intl` rejects; uPlot formats numbers with it as
// soon as it loads, so the whole UI would fail. Fall back to en-US for such tags only.
// Also names the two locales the formatters use (format.ts): the person's, for numbers,
// dates and clock times; and the language of the UI's words, for relative times ("5m ago")
// and plural forms, so that a sentence is never half in one language and half in another.

try {
  new Intl.NumberFormat(navigator.language);
} catch {
  Object.defineProperty(navigator, 'language', { value: 'en-US', configurable: true });
  Object.defineProperty(navigator, 'languages', { value: ['en-US'], configurable: true });
}

/** The person's locale (numbers, dates, clock times): the runtime's default. */
export const USER_LOCALE: string | undefined = undefined;

/** The language the UI's words are written in (`<html lang>`): relative times and plurals. */
export const UI_LANG = document.documentElement.lang || 'en';
