// Modula till: the cashier's page, part 1 of 2 (loaded before page.js): what every
// part of the page shares. The page's state, the one HTTP helper (every request with a
// timeout), number formatting and parsing, and the message line. Exposed as
// `window.ModulaTill`; page.js holds the screens and the start.
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
      const detail = timedOut
        ? 'The till app did not answer in time. Nothing is lost; try again in a moment.'
        : 'Cannot reach the till app (' + (e && e.message ? e.message : e) + ').';
      return { ok: false, status: 0, data: { code: 'TILL_UNREACHABLE', detail } };
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
  function confirmInPage(text) {
    return new Promise((resolve) => {
      const box = $('confirm');
      $('confirm-text').textContent = text;
      box.hidden = false;
      const done = (answer) => {
        box.hidden = true;
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
  const MONEY_HELP = 'use a dot for cents (3.00) and a comma only between thousands (1,250.00)';

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
    if (seconds === null || seconds === undefined) return 'never';
    if (seconds < 60) return seconds + ' s ago';
    if (seconds < 3600) return Math.floor(seconds / 60) + ' min ago';
    if (seconds < 86400) return Math.floor(seconds / 3600) + ' h ago';
    return Math.floor(seconds / 86400) + ' d ago';
  }

  /** A span of time: "45 s", "12 min", "2 h 5 min", "3 d 4 h". */
  function span(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min';
    if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
    return Math.floor(s / 86400) + ' d ' + Math.floor((s % 86400) / 3600) + ' h';
  }

  function clock(ts) {
    if (!ts) return '';
    const d = new Date(ts);
    return isNaN(d) ? String(ts) : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function when(ts) {
    if (!ts) return '';
    const d = new Date(ts);
    return isNaN(d) ? String(ts) : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }

  // ------------------------------------------------------------------ receipts

  // A receipt's time as printed: the sale's own `occurred_at` in the branch's time zone
  // ("Mar 1, 2026, 2:20:20 PM"), never the time it is drawn or synced.
  function saleTime(ts, timeZone) {
    if (!ts) return '';
    const d = new Date(ts);
    if (isNaN(d)) return String(ts);
    const opts = { year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', second: '2-digit' };
    try { return d.toLocaleString('en-US', Object.assign({ timeZone }, opts)); }
    catch (_) { return d.toLocaleString('en-US', opts); } // a zone this browser does not know
  }

  // Only the clock of a sale's time in the branch's zone ("2:20:20 PM").
  function saleClock(ts, timeZone) {
    if (!ts) return '';
    const d = new Date(ts);
    if (isNaN(d)) return String(ts);
    const opts = { hour: 'numeric', minute: '2-digit', second: '2-digit' };
    try { return d.toLocaleTimeString('en-US', Object.assign({ timeZone }, opts)); }
    catch (_) { return d.toLocaleTimeString('en-US', opts); }
  }

  // The calendar day ("2026-03-01") of an instant in the branch's time zone.
  function dayKey(ts, timeZone) {
    const d = ts instanceof Date ? ts : new Date(ts);
    const opts = { year: 'numeric', month: '2-digit', day: '2-digit' };
    try { return new Intl.DateTimeFormat('en-CA', Object.assign({ timeZone }, opts)).format(d); }
    catch (_) { return new Intl.DateTimeFormat('en-CA', opts).format(d); }
  }

  // One receipt laid out as the 80 mm paper prints it, from a receipt of
  // GET /api/receipts (the same drawing for the receipt after a sale, an opened one and
  // the print view). `prefix` names the parts that carry ids (`<prefix>-no`, `-time`,
  // `-change`, `-void`); `inclusive` says whether prices include VAT.
  function receiptPaper(r, prefix, inclusive) {
    const h = r.header || {};
    const id = (part) => (prefix ? prefix + '-' + part : null);
    const row = (a, b, cls, bId) => el('tr', { class: cls || '' }, el('td', { text: a }), el('td', { class: 'r', text: b, id: bId || null }));
    const head = el('div', { class: 'paper-head' },
      el('div', { class: 'shop', id: id('shop'), text: h.tenant_name || '' }),
      h.branch_name ? el('div', { class: 'branch', text: h.branch_name }) : null,
      h.address ? el('div', { class: 'address', text: h.address }) : null,
      h.vat_tin ? el('div', { class: 'tin', id: id('tin'), text: 'VAT TIN: ' + h.vat_tin }) : null);
    const meta = el('div', { class: 'paper-meta' },
      el('div', { id: id('no'), class: 'no', text: 'Receipt ' + r.receipt_no }),
      el('div', { id: id('time'), class: 'time', text: saleTime(r.occurred_at, h.timezone) }),
      el('div', { class: 'cashier', text: 'Cashier: ' + ((r.cashier && r.cashier.name) || '—') }));
    const lines = el('table', { class: 'paper-lines' });
    for (const l of r.lines || []) {
      lines.append(el('tr', {}, el('td', { text: l.qty + ' × ' + (l.name || 'Item') }), el('td', { class: 'r', text: usd(l.line_total_cents) })));
      if (l.qty !== 1) lines.append(el('tr', { class: 'each' }, el('td', { text: '  @ ' + usd(l.unit_price_cents) }), el('td', { text: '' })));
    }
    const sums = el('table', { class: 'paper-sums' },
      row('Subtotal', usd(r.subtotal_cents)),
      row(inclusive ? 'VAT (included)' : 'VAT', usd(r.vat_cents)),
      row('TOTAL', usd(r.total_cents), 'big-line', id('total')),
      r.total_khr !== null && r.total_khr !== undefined ? row('Total in riel', khr(r.total_khr), '', id('total-khr')) : null,
      row('Cash $', usd(r.tender.cash_usd_cents), 'sep'),
      row('Cash ៛', khr(r.tender.cash_khr)),
      el('tr', { class: 'big-line' }, el('td', { text: 'Change given' }),
        el('td', { class: 'r', id: id('change'), text: r.change ? splitText(r.change) : '—' })),
      r.fx ? row('Rate', khr(r.fx.khr_per_usd) + ' = $1', 'fx') : null);
    const parts = [head, meta, lines, sums];
    if (r.voided) {
      const v = r.void || {};
      parts.push(el('div', { class: 'paper-void' }, el('div', { id: id('void'), class: 'void-word', text: 'VOID' }),
        v.reason ? el('div', { text: v.reason }) : null,
        v.refund ? el('div', { text: 'Refunded ' + splitText(v.refund) }) : null));
    }
    if (h.receipt_footer) parts.push(el('div', { class: 'paper-footer', id: id('footer'), text: h.receipt_footer }));
    return el('div', { class: 'paper' + (r.voided ? ' voided' : '') }, ...parts);
  }

  const OP_NAMES = {
    'sale.finalize': 'Sale',
    'cashSession.open': 'Drawer opened',
    'cashSession.movement': 'Cash in/out',
    'cashSession.close': 'Drawer closed',
    'attendance.startWork': 'Start work',
    'attendance.endWork': 'End work',
  };

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'id' || k === 'type' || k === 'title') e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  // ------------------------------------------------------------------ messages

  function showMessage(kind, text, code) {
    const box = $('message');
    $('message-text').textContent = text;
    box.className = 'message ' + kind;
    box.dataset.code = code || '';
    box.hidden = false;
    clearTimeout(state.messageTimer);
    if (kind !== 'error') state.messageTimer = setTimeout(() => { box.hidden = true; }, 8000);
  }

  // Shows a refusal: its problem+json detail (and the field it names).
  function showProblem(res, what) {
    const d = res.data || {};
    let text = d.detail || d.title || ('the till answered ' + res.status);
    if (d.field) text += ' (' + d.field + ')';
    showMessage('error', (what ? what + ': ' : '') + text, d.code || String(res.status));
  }

  $('message-close').addEventListener('click', () => { $('message').hidden = true; });

  // Confirms an accepted action; red when the server refused it on the spot.
  function showDone(q, text) {
    const failed = q && q.status === 'FAILED';
    showMessage(failed ? 'error' : 'ok', text + ' ' + syncWord(q), failed ? q.code : '');
  }

  function syncWord(q) {
    if (!q) return '';
    if (q.status === 'SYNCED') return 'Synced with the server.';
    if (q.status === 'FAILED') return 'REFUSED by the server: ' + (q.message || q.code);
    return 'Saved on this till; it will sync when online.';
  }

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
    MONEY_HELP,
    parseRiel,
    ago,
    span,
    clock,
    saleTime,
    saleClock,
    dayKey,
    receiptPaper,
    when,
    OP_NAMES,
    el,
    showMessage,
    showProblem,
    showDone,
    syncWord,
  };
})();
