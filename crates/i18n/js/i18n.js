// The pages' words (crates/i18n). Loaded before the page's own scripts, after the
// tables (`window.MODULA_STRINGS = {en: {...}, km: {...}}`, written by the server or the
// till from crates/i18n/tables). Every visible string comes from here:
//   - markup: <b data-i18n="key"></b>, data-i18n-placeholder, data-i18n-title,
//     data-i18n-aria-label: filled by I18n.apply(root);
//   - scripts: I18n.t('key', {name: value}) with a literal key;
//   - a server or till refusal: I18n.problem(p) -> {sentence, detail}, the sentence from
//     the table's error.<CODE>, the server's own detail kept beneath it.
// Data (names of people, items, branches; codes; numbers) is not translated: wrap it in
// an element with translate="no" so the string-table check skips it.
// The choice is remembered per device (localStorage "modula.lang"); the first visit
// follows the browser's language.
(function () {
  'use strict';
  const STORE = 'modula.lang';
  const TABLES = window.MODULA_STRINGS || {};
  const LANGS = Object.keys(TABLES);
  const LOCALES = { en: 'en-US', km: 'km-KH' };
  const missing = [];
  let lang = initial();

  function initial() {
    let saved = null;
    try { saved = localStorage.getItem(STORE); } catch (_) { /* storage off */ }
    if (saved && TABLES[saved]) return saved;
    const nav = (navigator.language || 'en').toLowerCase();
    return nav.startsWith('km') && TABLES.km ? 'km' : 'en';
  }

  /** The string `key` in the chosen language, `{name}` filled from `vars`. */
  function t(key, vars) {
    let s = TABLES[lang] && TABLES[lang][key];
    if (s === undefined) {
      if (!missing.includes(key)) missing.push(key);
      console.error('modula i18n: no string', key, 'in', lang);
      s = key;
    }
    if (!vars) return s;
    return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  }

  /** Whether the table has `key` (for optional strings). */
  function has(key) {
    return !!(TABLES[lang] && TABLES[lang][key] !== undefined);
  }

  /** Fills every marked element under `root` from the table. */
  function apply(root) {
    const r = root || document;
    r.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
    r.querySelectorAll('[data-i18n-placeholder]').forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
    r.querySelectorAll('[data-i18n-title]').forEach((el) => { el.title = t(el.dataset.i18nTitle); });
    r.querySelectorAll('[data-i18n-aria-label]').forEach((el) => { el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel)); });
    document.documentElement.lang = lang;
    if (TABLES[lang] && TABLES[lang]['page.title']) document.title = TABLES[lang]['page.title'];
  }

  /** Chooses `l`, remembers it on this device, redraws the marked strings and tells the
   *  page (a `modula:lang` event on document) so it redraws what it wrote itself. */
  function set(l) {
    if (!TABLES[l]) return;
    lang = l;
    try { localStorage.setItem(STORE, l); } catch (_) { /* storage off */ }
    apply(document);
    document.dispatchEvent(new CustomEvent('modula:lang', { detail: { lang: l } }));
  }

  /** A refusal (RFC 9457 problem+json) as a sentence in the chosen language, with the
   *  server's `detail` kept beneath it. */
  function problem(p) {
    const code = p && p.code;
    const key = code && has('error.' + code) ? 'error.' + code : 'error.unknown';
    return { sentence: t(key), detail: (p && p.detail) || '', code: code || null };
  }

  function group(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  }

  /** Dollars from cents: "$1.50", "−$0.50". */
  function usd(cents) {
    const c = Math.round(Number(cents) || 0);
    const a = Math.abs(c);
    return (c < 0 ? '−' : '') + '$' + group(Math.floor(a / 100)) + '.' + String(a % 100).padStart(2, '0');
  }

  /** Riel: "៛4,100", "−៛100". */
  function khr(n) {
    const v = Math.round(Number(n) || 0);
    return (v < 0 ? '−' : '') + '៛' + group(Math.abs(v));
  }

  /** A date and time in the chosen language (`opts` as Intl.DateTimeFormat's). */
  function dateTime(iso, opts) {
    const d = iso instanceof Date ? iso : new Date(iso);
    if (isNaN(d)) return '';
    return new Intl.DateTimeFormat(LOCALES[lang] || 'en-US', opts || { dateStyle: 'medium', timeStyle: 'short' }).format(d);
  }

  /** Draws the language switch into `el`: one button per language, named in its own
   *  language and script (translate="no": those names are never translated). */
  function switcher(el) {
    el.textContent = '';
    el.setAttribute('role', 'group');
    el.setAttribute('translate', 'no');
    for (const l of LANGS) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'lang-choice';
      b.dataset.lang = l;
      b.lang = l;
      b.textContent = TABLES[l]['lang.name'] || l;
      b.setAttribute('aria-pressed', String(l === lang));
      b.addEventListener('click', () => {
        set(l);
        el.querySelectorAll('button').forEach((x) => x.setAttribute('aria-pressed', String(x.dataset.lang === lang)));
      });
      el.appendChild(b);
    }
  }

  window.I18n = {
    t, has, apply, set, problem, usd, khr, dateTime, switcher,
    lang: () => lang,
    langs: () => LANGS.slice(),
    locale: () => LOCALES[lang] || 'en-US',
    /** Keys asked for and not in the table (the browser tests read this). */
    missing: () => missing.slice(),
  };
  document.documentElement.lang = lang;
})();
