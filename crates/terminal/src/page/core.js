// Modula till: the cashier's page, part 1 of 2 (loaded before page.js): what every
// part of the page shares. The page's state, the one HTTP helper (every request with a
// timeout), number formatting and parsing, and the message line. Exposed as
// `window.ModulaTill`; page.js holds the screens and the start.
//
// Words: every visible string comes from the string tables (crates/i18n/tables/till.*):
// markup by data-i18n*, scripts by I18n.t with a literal key and {vars}. Data (names,
// receipt numbers, codes, the server's own detail) goes in translate="no" elements.
// When the language changes (`modula:lang`), every part registered with onLang redraws.
//
// The rules of page.js hold here too: never compute money, never block, never swallow
// a refusal.
'use strict';

window.ModulaTill = (function () {
  const $ = (id) => document.getElementById(id);
  const STATUS_EVERY_MS = 1000;
  const STATUS_TIMEOUT_MS = 2500;
  const READ_TIMEOUT_MS = 4000;
  const ACTION_TIMEOUT_MS = 10000;

  const state = {
    status: null,
    ctx: null,
    statusKey: '',
    failedKey: '',
    menuKey: '',
    staffKey: '',
    stockKey: '',
    cart: [], // [{id, qty}]
    quote: null,
    quoteSeq: 0,
    quoteTimer: null,
    receipt: null, // the last sale's receipt, as GET /api/receipts/{sale_id} answers it
    receipts: [], // today's receipts (newest first)
    receiptsKey: '',
    openReceipt: null, // the receipt opened from the list
    misses: 0,
    messageTimer: null,
  };

  // ------------------------------------------------------------------ HTTP

  async function api(method, path, body, timeoutMs, headers) {
    const ctrl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; ctrl.abort(); }, timeoutMs || ACTION_TIMEOUT_MS);
    try {
      const init = { method, signal: ctrl.signal, cache: 'no-store', headers: Object.assign({}, headers || {}) };
      if (body !== undefined) {
        init.headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
      }
      const r = await fetch(path, init);
      const text = await r.text();
      let data = null;
      if (text) {
        try { data = JSON.parse(text); } catch (_) { data = { detail: text }; }
      }
      return { ok: r.ok, status: r.status, data };
    } catch (e) {
      // The sentence comes from the table (net.timeout / net.unreachable, see problemSentence);
      // the browser's own reason is the detail.
      const detail = timedOut ? '' : String(e && e.message ? e.message : e);
      return { ok: false, status: 0, data: { code: 'TILL_UNREACHABLE', detail, timedOut } };
    } finally {
      clearTimeout(timer);
    }
  }

  // ------------------------------------------------------------------ formatting

  function usd(cents) {
    if (cents === null || cents === undefined) return '—';
    const neg = cents < 0;
    const a = Math.abs(cents);
    const dollars = Math.floor(a / 100).toLocaleString('en-US');
    return (neg ? '-' : '') + '$' + dollars + '.' + String(a % 100).padStart(2, '0');
  }

  function khr(riel) {
    if (riel === null || riel === undefined) return '—';
    return (riel < 0 ? '-' : '') + '៛' + Math.abs(riel).toLocaleString('en-US');
  }

  // A split of change as the cashier hands it over: "$4.00 + ៛3,000".
  function splitText(split) {
    if (!split) return '—';
    return usd(split.usd_cents) + ' + ' + khr(split.khr);
  }

  // Asks a yes/no question in the page (never a browser dialog, which would block the
  // till's timers); resolves true on yes.
  // `text`: a function giving the question in the chosen language (drawn again if the
  // language changes while it is asked); `detail`: the till's own words beneath it.
  function confirmInPage(text, detail) {
    return new Promise((resolve) => {
      const box = $('confirm');
      state.confirmDraw = () => {
        $('confirm-text').replaceChildren(text(), detail ? el('small', { class: 'detail', translate: 'no', text: detail }) : '');
      };
      state.confirmDraw();
      box.hidden = false;
      const done = (answer) => {
        box.hidden = true;
        state.confirmDraw = null;
        $('confirm-yes').onclick = null;
        $('confirm-no').onclick = null;
        resolve(answer);
      };
      $('confirm-yes').onclick = () => done(true);
      $('confirm-no').onclick = () => done(false);
      $('confirm-yes').focus();
    });
  }

  // Cents as what a cashier types into a $ field ("12.50").
  function dollarsInput(cents) {
    return String(Math.floor(cents / 100)) + '.' + String(cents % 100).padStart(2, '0');
  }

  // How to type an amount, shown whenever one cannot be read.
  function moneyHelp() {
    return I18n.t('money.help');
  }

  // Digits with commas only as thousands separators ("1,250", "12,500,000"), or none.
  function wholeNumber(text) {
    if (/^\d+$/.test(text)) return text;
    if (/^\d{1,3}(,\d{3})+$/.test(text)) return text.replace(/,/g, '');
    return null;
  }

  // "5", "5.5", "$5.50", "1,250.00" → cents; blank → `blank`; else null. A comma that is
  // not a thousands separator ("3,00", "20,5") is refused, never read as thousands: a
  // cashier who meant $3.00 must not charge $300 (see MONEY_HELP).
  function parseDollars(text, blank, allowNegative) {
    const s = String(text || '').replace(/[\s$]/g, '');
    if (s === '') return blank;
    const m = /^(-)?([\d,]*)(?:\.(\d{0,2}))?$/.exec(s);
    if (!m || (m[2] === '' && (m[3] === undefined || m[3] === ''))) return null;
    if (m[1] && !allowNegative) return null;
    const whole = m[2] === '' ? '0' : wholeNumber(m[2]);
    if (whole === null || whole.length > 7) return null;
    const cents = parseInt(whole, 10) * 100 + parseInt(((m[3] || '') + '00').slice(0, 2), 10);
    return m[1] ? -cents : cents;
  }

  // "4100", "4,100", "៛4,100" → riel; blank → `blank`; else null (a comma only between
  // thousands: "4,10" is refused).
  function parseRiel(text, blank) {
    const s = String(text || '').replace(/[\s៛]/g, '');
    if (s === '') return blank;
    const whole = wholeNumber(s);
    return whole !== null && whole.length <= 9 ? parseInt(whole, 10) : null;
  }

  function ago(seconds) {
    if (seconds === null || seconds === undefined) return I18n.t('time.never');
    if (seconds < 60) return I18n.t('time.s_ago', { n: seconds });
    if (seconds < 3600) return I18n.t('time.min_ago', { n: Math.floor(seconds / 60) });
    if (seconds < 86400) return I18n.t('time.h_ago', { n: Math.floor(seconds / 3600) });
    return I18n.t('time.d_ago', { n: Math.floor(seconds / 86400) });
  }

  /** A span of time: "45 s", "12 min", "2 h 5 min", "3 d 4 h". */
  function span(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return I18n.t('time.s', { n: s });
    if (s < 3600) return I18n.t('time.min', { n: Math.floor(s / 60) });
    if (s < 86400) return I18n.t('time.h_min', { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
    return I18n.t('time.d_h', { d: Math.floor(s / 86400), h: Math.floor((s % 86400) / 3600) });
  }

  // Dates and times in the chosen language, through Intl with I18n.locale(). A browser
  // whose Intl has no Khmer data (Debian's Chromium falls back to en-US, "Mar 1, 2:20 PM")
  // gets the Khmer form built here: "1 មីនា 2026 14:20:20" (24-hour, month named from the
  // table), so no Latin word shows in Khmer.
  function monthName(m) {
    return [I18n.t('month.1'), I18n.t('month.2'), I18n.t('month.3'), I18n.t('month.4'), I18n.t('month.5'),
      I18n.t('month.6'), I18n.t('month.7'), I18n.t('month.8'), I18n.t('month.9'), I18n.t('month.10'),
      I18n.t('month.11'), I18n.t('month.12')][m - 1] || String(m);
  }

  function intlHas(locale) {
    try { return Intl.DateTimeFormat.supportedLocalesOf([locale]).length > 0; } catch (_) { return false; }
  }

  // `what`: {year, month (short name), day, hour, minute, second} (each true/false);
  // `timeZone`: the branch's zone, or undefined for this device's.
  function dateText(ts, what, timeZone) {
    if (!ts) return '';
    const d = ts instanceof Date ? ts : new Date(ts);
    if (isNaN(d)) return String(ts);
    const locale = I18n.locale();
    const tz = timeZone ? { timeZone } : {};
    const build = (loc, opts) => {
      try { return new Intl.DateTimeFormat(loc, Object.assign({}, opts, tz)); }
      catch (_) { return new Intl.DateTimeFormat(loc, opts); } // a zone this browser does not know
    };
    if (I18n.lang() !== 'km' || intlHas(locale)) {
      const opts = {};
      if (what.year) opts.year = 'numeric';
      if (what.month) opts.month = 'short';
      if (what.day) opts.day = 'numeric';
      if (what.hour) opts.hour = what.twoDigitHour ? '2-digit' : 'numeric';
      if (what.minute) opts.minute = '2-digit';
      if (what.second) opts.second = '2-digit';
      return build(locale, opts).format(d);
    }
    const parts = {};
    const numeric = { year: 'numeric', month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
    for (const p of build('en-GB', numeric).formatToParts(d)) parts[p.type] = p.value;
    const date = [what.day ? String(Number(parts.day)) : null, what.month ? monthName(Number(parts.month)) : null,
      what.year ? parts.year : null].filter(Boolean).join(' ');
    const time = what.hour ? [parts.hour, parts.minute].concat(what.second ? [parts.second] : []).join(':') : '';
    return [date, time].filter(Boolean).join(' ');
  }

  function clock(ts) {
    return dateText(ts, { hour: true, minute: true, twoDigitHour: true });
  }

  function when(ts) {
    return dateText(ts, { month: true, day: true, hour: true, minute: true, twoDigitHour: true });
  }

  // ------------------------------------------------------------------ receipts

  // A receipt's time as printed: the sale's own `occurred_at` in the branch's time zone
  // ("Mar 1, 2026, 2:20:20 PM"; in Khmer "1 មីនា 2026 14:20:20"), never the time it is
  // drawn or synced.
  function saleTime(ts, timeZone) {
    return dateText(ts, { year: true, month: true, day: true, hour: true, minute: true, second: true }, timeZone);
  }

  // Only the clock of a sale's time in the branch's zone ("2:20:20 PM").
  function saleClock(ts, timeZone) {
    return dateText(ts, { hour: true, minute: true, second: true }, timeZone);
  }

  // The calendar day ("2026-03-01") of an instant in the branch's time zone.
  function dayKey(ts, timeZone) {
    const d = ts instanceof Date ? ts : new Date(ts);
    const opts = { year: 'numeric', month: '2-digit', day: '2-digit' };
    try { return new Intl.DateTimeFormat('en-CA', Object.assign({ timeZone }, opts)).format(d); }
    catch (_) { return new Intl.DateTimeFormat('en-CA', opts).format(d); }
  }

  // A translated sentence with data in it: `template` is a table's text as I18n.t gives it
  // (its {names} unfilled); each {name} becomes a translate="no" span holding
  // vars[name] (a person's or an item's name, a receipt number, an amount), so the
  // string-table check skips the data and still sees the words.
  function frag(template, vars) {
    const out = document.createDocumentFragment();
    let rest = String(template);
    for (;;) {
      const m = /\{(\w+)\}/.exec(rest);
      if (!m) break;
      if (m.index) out.append(rest.slice(0, m.index));
      if (vars && m[1] in vars) out.append(el('span', { translate: 'no', class: 'data', text: String(vars[m[1]]) }));
      else out.append(m[0]);
      rest = rest.slice(m.index + m[0].length);
    }
    if (rest) out.append(rest);
    return out;
  }

  // One receipt laid out as the 80 mm paper prints it, from a receipt of
  // GET /api/receipts (the same drawing for the receipt after a sale, an opened one and
  // the print view). `prefix` names the parts that carry ids (`<prefix>-no`, `-time`,
  // `-change`, `-void`); `inclusive` says whether prices include VAT. Its labels are in
  // the chosen language; the shop's own words (name, address, footer) are data.
  function receiptPaper(r, prefix, inclusive) {
    const h = r.header || {};
    const id = (part) => (prefix ? prefix + '-' + part : null);
    const row = (a, b, cls, bId) => el('tr', { class: cls || '' }, el('td', { text: a }), el('td', { class: 'r', text: b, id: bId || null }));
    const head = el('div', { class: 'paper-head' },
      el('div', { class: 'shop', id: id('shop'), translate: 'no', text: h.tenant_name || '' }),
      h.branch_name ? el('div', { class: 'branch', translate: 'no', text: h.branch_name }) : null,
      h.address ? el('div', { class: 'address', translate: 'no', text: h.address }) : null,
      h.vat_tin ? el('div', { class: 'tin', id: id('tin') }, frag(I18n.t('receipt.tin'), { tin: h.vat_tin })) : null);
    const meta = el('div', { class: 'paper-meta' },
      el('div', { id: id('no'), class: 'no' }, frag(I18n.t('receipt.no'), { no: r.receipt_no })),
      el('div', { id: id('time'), class: 'time', text: saleTime(r.occurred_at, h.timezone) }),
      el('div', { class: 'cashier' }, frag(I18n.t('receipt.cashier'), { name: (r.cashier && r.cashier.name) || '—' })));
    const lines = el('table', { class: 'paper-lines' });
    for (const l of r.lines || []) {
      lines.append(el('tr', {}, el('td', {}, l.qty + ' × ', el('span', { translate: 'no', text: l.name || I18n.t('receipt.item') })),
        el('td', { class: 'r', text: usd(l.line_total_cents) })));
      if (l.qty !== 1) lines.append(el('tr', { class: 'each' }, el('td', { text: '  @ ' + usd(l.unit_price_cents) }), el('td', { text: '' })));
    }
    const sums = el('table', { class: 'paper-sums' },
      row(I18n.t('order.subtotal'), usd(r.subtotal_cents)),
      row(inclusive ? I18n.t('order.vat_included') : I18n.t('order.vat'), usd(r.vat_cents)),
      row(I18n.t('receipt.total'), usd(r.total_cents), 'big-line', id('total')),
      r.total_khr !== null && r.total_khr !== undefined ? row(I18n.t('order.total_khr'), khr(r.total_khr), '', id('total-khr')) : null,
      row(I18n.t('tender.cash_usd'), usd(r.tender.cash_usd_cents), 'sep'),
      row(I18n.t('tender.cash_khr'), khr(r.tender.cash_khr)),
      el('tr', { class: 'big-line' }, el('td', { text: I18n.t('receipt.change_given') }),
        el('td', { class: 'r', id: id('change'), text: r.change ? splitText(r.change) : '—' })),
      r.fx ? row(I18n.t('receipt.rate'), khr(r.fx.khr_per_usd) + ' = $1', 'fx') : null);
    const parts = [head, meta, lines, sums];
    if (r.voided) {
      const v = r.void || {};
      parts.push(el('div', { class: 'paper-void' }, el('div', { id: id('void'), class: 'void-word', text: I18n.t('receipt.void') }),
        v.reason ? el('div', { translate: 'no', text: v.reason }) : null,
        v.refund ? el('div', {}, frag(I18n.t('receipt.refunded'), { amount: splitText(v.refund) })) : null));
    }
    if (h.receipt_footer) parts.push(el('div', { class: 'paper-footer', id: id('footer'), translate: 'no', text: h.receipt_footer }));
    return el('div', { class: 'paper' + (r.voided ? ' voided' : '') }, ...parts);
  }

  // What a person calls an op (the failed list names ops that are not sales).
  function opName(type) {
    switch (type) {
      case 'sale.finalize': return I18n.t('op.sale');
      case 'cashSession.open': return I18n.t('op.drawer_opened');
      case 'cashSession.movement': return I18n.t('op.movement');
      case 'cashSession.close': return I18n.t('op.drawer_closed');
      case 'attendance.startWork': return I18n.t('op.start_work');
      case 'attendance.endWork': return I18n.t('op.end_work');
      default: return I18n.t('op.other');
    }
  }

  // A staff role in words ("cashier", "manager", "owner").
  function roleName(role) {
    if (role === 'manager') return I18n.t('role.manager');
    if (role === 'owner') return I18n.t('role.owner');
    return I18n.t('role.cashier');
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'id' || k === 'type' || k === 'title' || k === 'translate') e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  // ------------------------------------------------------------------ language

  // Parts of the page that draw words from scripts register here; on `modula:lang` they
  // all redraw (in order) in the new language.
  const redraws = [];
  function onLang(fn) { redraws.push(fn); }
  document.addEventListener('modula:lang', () => {
    for (const fn of redraws) {
      try { fn(); } catch (e) { console.error('modula: redraw after a language change', e); }
    }
  });

  // ------------------------------------------------------------------ messages

  // The message line. `text` is a string, or a function drawing it (a string or nodes):
  // then it is drawn again in the new language when the language changes. `detail`
  // (optional) is the server's own words, shown beneath in a smaller translate="no" line.
  function showMessage(kind, text, code, detail) {
    const box = $('message');
    state.message = { kind, text, code, detail };
    drawMessage();
    box.className = 'message ' + kind;
    box.dataset.code = code || '';
    box.hidden = false;
    clearTimeout(state.messageTimer);
    if (kind !== 'error') state.messageTimer = setTimeout(() => { box.hidden = true; }, 8000);
  }

  function drawMessage() {
    const m = state.message;
    if (!m) return;
    const body = typeof m.text === 'function' ? m.text() : m.text;
    $('message-text').replaceChildren(body === null || body === undefined ? '' : body);
    $('message-detail').textContent = m.detail || '';
    $('message-detail').hidden = !m.detail;
  }
  onLang(drawMessage);
  onLang(() => { if (state.confirmDraw) state.confirmDraw(); });

  // The sentence of a refusal in the chosen language: the table's error.<CODE>; for the
  // page's own "the till app did not answer", its own words.
  function problemSentence(d) {
    if (d && d.code === 'TILL_UNREACHABLE') return d.timedOut ? I18n.t('net.timeout') : I18n.t('net.unreachable');
    if (d && !d.code) return I18n.t('net.refused');
    return I18n.problem(d).sentence;
  }

  // The server's own detail of a refusal (and the field it names), shown beneath.
  function problemDetail(res) {
    const d = res.data || {};
    let text = d.detail || d.title || (res.status ? 'HTTP ' + res.status : '');
    if (d.field) text += ' (' + d.field + ')';
    return text;
  }

  // Shows a refusal: what was refused (`what`, a function giving its name in the
  // chosen language), the sentence for its code, and the server's detail beneath.
  function showProblem(res, what) {
    const d = res.data || {};
    showMessage('error', () => (what ? what() + ': ' : '') + problemSentence(d), d.code || String(res.status), problemDetail(res));
  }

  $('message-close').addEventListener('click', () => { $('message').hidden = true; });

  // Confirms an accepted action (`text`: a function drawing it); red when the server
  // refused it on the spot.
  function showDone(q, text) {
    const failed = q && q.status === 'FAILED';
    showMessage(failed ? 'error' : 'ok', () => {
      const f = document.createDocumentFragment();
      f.append(text(), ' ', syncWord(q));
      return f;
    }, failed ? q.code : '', failed ? (q.message || '') : '');
  }

  // Where an action stands with the server, in words (a refused one: its code's sentence;
  // the server's message is shown beside it by the caller).
  function syncWord(q) {
    if (!q) return '';
    if (q.status === 'SYNCED') return I18n.t('sync.word_synced');
    if (q.status === 'FAILED') return I18n.t('sync.word_refused', { reason: I18n.problem({ code: q.code }).sentence });
    return I18n.t('sync.word_pending');
  }

  // A sync state as its badge says it (PENDING, SYNCED, FAILED).
  function syncName(status) {
    if (status === 'SYNCED') return I18n.t('sync.synced');
    if (status === 'FAILED') return I18n.t('sync.failed');
    return I18n.t('sync.pending');
  }

  // The page's fixed words, and the language switch in the header.
  I18n.apply(document);
  I18n.switcher($('lang-switch'));

  return {
    $,
    STATUS_EVERY_MS,
    STATUS_TIMEOUT_MS,
    READ_TIMEOUT_MS,
    ACTION_TIMEOUT_MS,
    state,
    api,
    usd,
    khr,
    dollarsInput,
    splitText,
    confirmInPage,
    parseDollars,
    moneyHelp,
    parseRiel,
    ago,
    span,
    clock,
    saleTime,
    saleClock,
    dayKey,
    receiptPaper,
    when,
    opName,
    roleName,
    el,
    frag,
    onLang,
    showMessage,
    showProblem,
    problemSentence,
    problemDetail,
    showDone,
    syncWord,
    syncName,
  };
})();
