// The string-table check (crates/i18n TEXT_CHECK_JS): every visible text of the page
// outside [translate="no"] is in the language arguments[0]. Returns the offenders.
const want = arguments[0];
const ok = new Set(window.MODULA_KM_LATIN_OK || []);
const khmer = /[\u1780-\u17DA\u17DC-\u17FF\u19E0-\u19FF]/;
const bad = [];
function visible(el) {
  if (!el || el.closest('[translate="no"]')) return false;
  if (el.closest('[hidden]')) return false;
  const st = getComputedStyle(el);
  if (st.display === 'none' || st.visibility === 'hidden' || Number(st.opacity) === 0) return false;
  const r = el.getBoundingClientRect();
  return r.width > 0 && r.height > 0;
}
function wrong(text) {
  const s = text.trim();
  if (!s) return false;
  if (want === 'km') {
    const words = s.match(/[A-Za-z]{2,}/g) || [];
    return words.some((w) => !ok.has(w));
  }
  return khmer.test(s);
}
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const el = n.parentElement;
  if (!el || ['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE'].includes(el.tagName)) continue;
  if (wrong(n.nodeValue) && visible(el)) bad.push(n.nodeValue.trim().slice(0, 120));
}
for (const el of document.querySelectorAll('input, textarea')) {
  if (visible(el) && el.placeholder && wrong(el.placeholder)) bad.push('placeholder: ' + el.placeholder);
  if (visible(el) && ['button', 'submit'].includes(el.type) && wrong(el.value)) bad.push('button: ' + el.value);
}
for (const sel of document.querySelectorAll('select')) {
  const opt = sel.selectedOptions && sel.selectedOptions[0];
  if (opt && visible(sel) && !opt.closest('[translate="no"]') && wrong(opt.textContent)) bad.push('option: ' + opt.textContent.trim());
}
for (const key of (window.I18n ? window.I18n.missing() : ['window.I18n is not loaded'])) bad.push('missing key: ' + key);
if ((document.documentElement.lang || '') !== want) bad.push('html lang is ' + document.documentElement.lang);
return bad;
