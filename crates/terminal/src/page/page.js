// Modula till: the cashier's page, part 2 of 2: its screens (status bar, sign-in, menu,
// cart, tender, receipt, drawer, attendance, stock, failed ops) and the start. Shared
// helpers come from core.js (`window.ModulaTill`). Vanilla JS, no build step, no
// network but this till.
//
// Rules this file keeps:
// - Never compute money. Totals, VAT, change (in $ and ៛) come from POST /api/quote,
//   which prices with the same code as POST /api/sales. The page only parses what the
//   cashier typed into whole cents / riel and formats integers for display.
// - Never block or freeze: every request has a timeout and answers {ok, status, data};
//   nothing waits on the server (this till's API is local and works offline).
// - Never swallow a refusal: every problem+json `detail` is shown in #message.
'use strict';
(function () {
  // Receipts the page reads for today's list (the local API's most).
  const RECEIPTS_READ = 500;

  const {
    $,
    span,
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
    clock,
    when,
    saleClock,
    dayKey,
    receiptPaper,
    OP_NAMES,
    el,
    showMessage,
    showProblem,
    showDone,
    syncWord,
  } = window.ModulaTill;

  async function act(button, busyText, method, path, body, what) {
    const label = button ? button.textContent : '';
    if (button) { button.disabled = true; button.textContent = busyText; }
    const res = await api(method, path, body, ACTION_TIMEOUT_MS);
    if (button) { button.textContent = label; button.disabled = false; }
    if (!res.ok) showProblem(res, what);
    await refreshContext();
    pollStatus(true);
    return res;
  }

  // ------------------------------------------------------------------ status bar

  async function pollStatus(now) {
    if (state.polling && !now) return;
    state.polling = true;
    const res = await api('GET', '/api/status', undefined, STATUS_TIMEOUT_MS);
    state.polling = false;
    if (!res.ok) {
      state.misses += 1;
      if (state.misses >= 2) {
        $('terminal-down').hidden = false;
        setConn(false);
      }
      return;
    }
    state.misses = 0;
    $('terminal-down').hidden = true;
    const s = res.data;
    state.status = s;
    renderStatus(s);
    const key = [s.pending, s.failed, s.synced, s.signed_in && s.signed_in.staff_id, s.branch_status,
      s.hydrated, s.last_pull_at].join('|');
    if (key !== state.statusKey) {
      state.statusKey = key;
      refreshContext();
      refreshLastReceipt();
      refreshReceipts();
    }
    // A new day in the branch's zone starts an empty list of today's receipts.
    if (state.receiptsDay && dayKey(new Date(), state.header && state.header.timezone) !== state.receiptsDay) {
      state.receiptsDay = '';
      refreshReceipts();
    }
    const fkey = String(s.failed) + '|' + (s.last_pull_at || '');
    if (fkey !== state.failedKey) {
      state.failedKey = fkey;
      refreshFailed();
    }
  }

  function setConn(online) {
    const c = $('conn');
    c.textContent = online ? 'Online' : 'Offline';
    c.className = 'conn ' + (online ? 'online' : 'offline');
    c.dataset.online = String(online);
    c.title = online ? 'Connected to the server' : 'No connection to the server: sales are saved here and sync later';
  }

  function renderStatus(s) {
    setConn(!!s.online);
    // How long offline (since the server last answered), and a draining backlog's progress.
    const offFor = $('offline-for');
    const since = s.offline_since ? Date.parse(s.offline_since) : NaN;
    offFor.hidden = !!s.online || Number.isNaN(since);
    offFor.textContent = offFor.hidden ? '' : 'for ' + span((Date.now() - since) / 1000);
    const progress = $('sync-progress');
    progress.hidden = !(s.online && s.sync && s.sync.total > 1);
    progress.textContent = progress.hidden ? '' : 'Syncing ' + s.sync.done + ' of ' + s.sync.total;
    $('pending').textContent = String(s.pending);
    $('pending').classList.toggle('has', s.pending > 0);
    $('failed').textContent = String(s.failed);
    $('failed').classList.toggle('has', s.failed > 0);
    $('cache-age').textContent = s.hydrated ? ago(s.cache_age_s) : (s.cache_age_s == null ? 'never' : ago(s.cache_age_s) + ' (partial)');
    $('frozen').hidden = s.branch_status !== 'frozen';
    // Shown only when it lasts (5 s): right after a reconnect the last error is stale
    // until the first push goes through.
    const stuckNow = !!s.online && s.pending > 0 && !!s.last_error;
    state.stuckSince = stuckNow ? (state.stuckSince || Date.now()) : 0;
    const stuck = stuckNow && Date.now() - state.stuckSince >= 5000;
    $('sync-stuck').hidden = !stuck;
    $('sync-error').textContent = stuck ? s.last_error : '';
    if (s.device) $('device-name').textContent = s.device.name + ' · ' + s.device.code;
    const t = $('outage-toggle');
    t.hidden = !s.outage_switch;
    t.setAttribute('aria-pressed', String(!!s.simulated_outage));
    t.textContent = s.simulated_outage ? 'End outage' : 'Simulate outage';
    renderOnlineOnly();
  }

  $('outage-toggle').addEventListener('click', async () => {
    const on = !(state.status && state.status.simulated_outage);
    const res = await act($('outage-toggle'), on ? 'Cutting…' : 'Restoring…', 'POST', '/api/outage', { on }, 'Simulate outage');
    if (res.ok) {
      showMessage('info', on
        ? 'Simulated outage: the link to the server is cut. Keep selling; sales wait here as pending.'
        : 'Link restored: pending work is syncing now.');
    }
  });

  // ------------------------------------------------------------------ context

  async function refreshContext() {
    const res = await api('GET', '/api/context', undefined, READ_TIMEOUT_MS);
    if (!res.ok) return; // the status bar already says the till is not answering
    state.ctx = res.data;
    renderContext();
  }

  function menuById() {
    const m = new Map();
    for (const item of (state.ctx && state.ctx.menu) || []) m.set(item.id, item);
    return m;
  }

  function staffName(id) {
    const s = ((state.ctx && state.ctx.staff) || []).find((x) => x.id === id);
    return s ? s.name : 'someone (' + String(id).slice(0, 8) + ')';
  }

  // The cart belongs to the person who built it: when they sign out (or are signed out:
  // idle, deactivated, moved), the next person starts with an empty cart and tender.
  function clearCartIfSomeoneElse(who) {
    const id = who ? who.staff_id : null;
    if (state.cartOwner !== undefined && state.cartOwner !== id && state.cart.length) {
      state.cart = [];
      state.checkoutKey = null;
      $('tender-usd').value = '';
      $('tender-khr').value = '';
      cartChanged();
    }
    state.cartOwner = id;
  }

  function renderContext() {
    const ctx = state.ctx;
    const who = ctx.signed_in;
    clearCartIfSomeoneElse(who);
    $('signin-panel').hidden = !!who;
    $('work').hidden = !who;
    $('who').hidden = !who;
    $('signout').hidden = !who;
    $('signed-in-name').textContent = who ? who.name + ' (' + who.role + ')' : '';
    renderStaff();
    renderMenu();
    pruneCart();
    renderCart();
    renderSession();
    renderShifts();
    renderStock();
    renderOnlineOnly();
    if (state.receipt && !$('receipt').hidden) renderReceipt(); // who may void, online or not
  }

  // ------------------------------------------------------------------ sign-in

  function renderStaff() {
    const staff = state.ctx.staff || [];
    const key = JSON.stringify(staff);
    if (key === state.staffKey) return;
    state.staffKey = key;
    const sel = $('signin-staff');
    const keep = sel.value;
    sel.replaceChildren(el('option', { value: '', text: staff.length ? 'Choose your name…' : 'No staff downloaded yet' }));
    for (const s of staff) sel.append(el('option', { value: s.id, text: s.name + ' — ' + s.role }));
    if (staff.some((s) => s.id === keep)) sel.value = keep;
    else if (staff.length === 1) sel.value = staff[0].id;
    $('signin-hint').textContent = staff.length ? '' :
      'This till has not downloaded its staff list yet. Connect it to the internet once; after that, sign-in works offline too.';
  }

  document.querySelectorAll('#keypad button').forEach((b) => {
    b.addEventListener('click', () => {
      const pin = $('signin-pin');
      const k = b.dataset.key;
      if (k === 'clear') pin.value = '';
      else if (k === 'back') pin.value = pin.value.slice(0, -1);
      else if (pin.value.length < 8) pin.value += k;
      $('signin-error').textContent = '';
    });
  });

  async function signIn() {
    const staff_id = $('signin-staff').value;
    const pin = $('signin-pin').value;
    if (!staff_id) { $('signin-error').textContent = 'Choose your name first.'; return; }
    if (!pin) { $('signin-error').textContent = 'Enter your PIN.'; return; }
    const b = $('signin-submit');
    b.disabled = true; b.textContent = 'Checking…';
    const res = await api('POST', '/api/signin', { staff_id, pin }, ACTION_TIMEOUT_MS);
    b.disabled = false; b.textContent = 'Sign in';
    $('signin-pin').value = '';
    if (!res.ok) {
      const d = res.data || {};
      if (d.code === 'PIN_LOCKED' && d.retry_after_s) {
        const opt = $('signin-staff').selectedOptions[0];
        lockCountdown(staff_id, opt ? opt.textContent : 'this person', d.retry_after_s);
        return;
      }
      $('signin-error').textContent = d.detail || ('refused (' + res.status + ')');
      showProblem(res, 'Sign-in');
      return;
    }
    $('signin-error').textContent = '';
    showMessage('ok', 'Welcome, ' + res.data.name + '.');
    // The next person starts at the top of the page, not where the last one left it.
    $('main').scrollTop = 0;
    window.scrollTo(0, 0);
    await refreshContext();
    pollStatus(true);
  }

  // A person's PIN lock, counted down each second while that person is chosen (the lock
  // is theirs alone: choosing someone else clears it from view).
  function lockCountdown(staffId, name, seconds) {
    clearInterval(state.lockTimer);
    const end = Date.now() + seconds * 1000;
    const tick = () => {
      const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      if ($('signin-staff').value !== staffId || left === 0) {
        clearInterval(state.lockTimer);
        $('signin-error').textContent = '';
        return;
      }
      const mmss = Math.floor(left / 60) + ':' + String(left % 60).padStart(2, '0');
      $('signin-error').textContent = 'Too many wrong PINs for ' + name + '. Sign-in for them is locked: try again in ' + mmss + '.';
    };
    tick();
    state.lockTimer = setInterval(tick, 1000);
  }

  $('signin-staff').addEventListener('change', () => { clearInterval(state.lockTimer); $('signin-error').textContent = ''; });
  $('signin-submit').addEventListener('click', signIn);
  $('signin-pin').addEventListener('keydown', (e) => { if (e.key === 'Enter') signIn(); });
  $('signin-pin').addEventListener('input', () => { $('signin-error').textContent = ''; });
  $('signout').addEventListener('click', async () => {
    await act($('signout'), 'Signing out…', 'POST', '/api/signout', undefined, 'Sign out');
  });

  // ------------------------------------------------------------------ menu

  function renderMenu() {
    const menu = state.ctx.menu || [];
    const key = JSON.stringify(menu.map((m) => [m.id, m.name, m.price_cents, m.category]));
    if (key !== state.menuKey) {
      state.menuKey = key;
      const box = $('menu');
      box.replaceChildren();
      if (!menu.length) {
        box.append(el('p', { class: 'hint', text: 'The menu has not been downloaded yet. Connect this till to the internet once; after that it sells offline too.' }));
      }
      let grid = null;
      let cat = null;
      for (const item of menu) {
        if (item.category !== cat) {
          cat = item.category;
          grid = el('div', { class: 'grid' });
          box.append(el('h3', { text: cat || 'Other' }), grid);
        }
        const b = el('button', { type: 'button', class: 'menu-item', 'data-item-id': item.id, title: 'Add ' + item.name },
          el('span', { class: 'name', text: item.name }), el('span', { class: 'price', text: usd(item.price_cents) }));
        b.addEventListener('click', () => addToCart(item.id));
        grid.append(b);
      }
    }
    const inCart = new Set(state.cart.map((l) => l.id));
    document.querySelectorAll('.menu-item').forEach((b) => b.classList.toggle('in-cart', inCart.has(b.dataset.itemId)));
  }

  // ------------------------------------------------------------------ cart

  function cartKey() {
    return 'modula.till.cart';
  }

  function saveCart() {
    try { localStorage.setItem(cartKey(), JSON.stringify(state.cart)); } catch (_) { /* private mode */ }
  }

  function loadCart() {
    try {
      const c = JSON.parse(localStorage.getItem(cartKey()) || '[]');
      if (Array.isArray(c)) state.cart = c.filter((l) => l && typeof l.id === 'string' && Number.isInteger(l.qty) && l.qty > 0);
    } catch (_) { state.cart = []; }
  }

  function addToCart(id) {
    const line = state.cart.find((l) => l.id === id);
    if (line) line.qty += 1; else state.cart.push({ id, qty: 1 });
    cartChanged();
  }

  function setQty(id, qty) {
    if (qty <= 0) state.cart = state.cart.filter((l) => l.id !== id);
    else { const line = state.cart.find((l) => l.id === id); if (line) line.qty = qty; }
    cartChanged();
  }

  function cartChanged() {
    saveCart();
    renderCart();
    renderMenu();
    scheduleQuote();
  }

  // Items that left the menu leave the cart (with a word to the cashier).
  function pruneCart() {
    const menu = menuById();
    if (!menu.size) return;
    const gone = state.cart.filter((l) => !menu.has(l.id));
    if (!gone.length) return;
    state.cart = state.cart.filter((l) => menu.has(l.id));
    saveCart();
    showMessage('info', gone.length + ' item(s) in the order are no longer on the menu and were removed.');
    scheduleQuote();
  }

  function renderCart() {
    const menu = menuById();
    const ul = $('cart');
    ul.replaceChildren();
    for (const l of state.cart) {
      const item = menu.get(l.id);
      const name = item ? item.name : 'Item ' + l.id.slice(0, 8);
      const minus = el('button', { type: 'button', class: 'qty-minus', 'aria-label': 'One less ' + name, text: '−' });
      const plus = el('button', { type: 'button', class: 'qty-plus', 'aria-label': 'One more ' + name, text: '+' });
      const remove = el('button', { type: 'button', class: 'remove', 'aria-label': 'Remove ' + name, text: '×' });
      minus.addEventListener('click', () => setQty(l.id, l.qty - 1));
      plus.addEventListener('click', () => setQty(l.id, l.qty + 1));
      remove.addEventListener('click', () => setQty(l.id, 0));
      ul.append(el('li', { class: 'cart-line', 'data-item-id': l.id },
        el('span', { class: 'name', text: name }),
        el('span', { class: 'ctl' }, minus, el('span', { class: 'qty', text: String(l.qty) }), plus, remove),
        el('span', { class: 'each', text: l.qty + ' × ' + (item ? usd(item.price_cents) : '?') })));
    }
    $('cart-empty').hidden = state.cart.length > 0;
  }

  $('cart-clear').addEventListener('click', () => {
    state.cart = [];
    state.checkoutKey = null;
    state.changeAllRiel = false;
    $('tender-usd').value = '';
    $('tender-khr').value = '';
    cartChanged();
  });

  // ------------------------------------------------------------------ tender & quote

  function tender() {
    const usdC = parseDollars($('tender-usd').value, 0, false);
    const riel = parseRiel($('tender-khr').value, 0);
    return { usdC, riel };
  }

  // The sale as the page sends it: the cart, the tender and, when the cashier chose to
  // give all the change in riel, that split (else the till gives its default split).
  function saleBody(confirm) {
    const t = tender();
    const body = {
      lines: state.cart.map((l) => ({ menu_item_id: l.id, qty: l.qty })),
      tender: { cash_usd_cents: t.usdC, cash_khr: t.riel },
    };
    if (state.changeAllRiel && state.quote && state.quote.enough) body.change = state.quote.change_all_khr;
    if (confirm) body.confirm = true;
    return body;
  }

  // Sends a write; when the till asks for a confirmation (an amount above the policy's
  // cap), asks the cashier in the page and, on yes, sends it again confirmed.
  async function withConfirmation(send) {
    let res = await send(false);
    if (!res.ok && res.data && res.data.code === 'CONFIRMATION_REQUIRED') {
      const yes = await confirmInPage('Please check: ' + res.data.detail + '.');
      if (!yes) return { ok: false, cancelled: true, status: 0, data: null };
      res = await send(true);
    }
    return res;
  }

  function scheduleQuote() {
    clearTimeout(state.quoteTimer);
    state.quoteTimer = setTimeout(requestQuote, 120);
  }

  function renderTotals(q) {
    const policy = state.ctx && state.ctx.policy;
    $('khr-note').textContent = policy
      ? 'The riel total is rounded up to the next ' + khr(policy.khr_rounding) + ' at ' + khr(policy.khr_per_usd) +
        ' per dollar, so that riel alone always pays it.'
      : '';
    const inclusive = !policy || policy.prices_include_vat !== false;
    $('vat-label').textContent = inclusive ? 'VAT (included)' : 'VAT';
    $('subtotal').textContent = q ? usd(q.subtotal_cents) : '—';
    $('vat').textContent = q ? usd(q.vat_cents) : '—';
    $('total').textContent = q ? usd(q.total_cents) : '—';
    $('total-khr').textContent = q ? khr(q.total_khr) : '—';
  }

  function setChange(kind, text) {
    const c = $('change');
    c.className = 'change ' + kind;
    c.textContent = text;
  }

  async function requestQuote() {
    const seq = ++state.quoteSeq;
    const t = tender();
    if (!state.cart.length) {
      state.quote = null;
      renderTotals(null);
      setChange('none', 'Change —');
      $('change-switch').hidden = true;
      updateCharge();
      return;
    }
    if (t.usdC === null || t.riel === null) {
      setChange('short', t.usdC === null ? 'Cash $ cannot be read: ' + MONEY_HELP + '.' : 'Cash ៛ cannot be read: whole riel, like 4100 or 4,100.');
      $('charge').disabled = true;
      return;
    }
    const res = await api('POST', '/api/quote', saleBody(), READ_TIMEOUT_MS);
    if (seq !== state.quoteSeq) return; // a newer quote is on its way
    if (!res.ok) {
      state.quote = null;
      renderTotals(null);
      setChange('short', 'Cannot price this order');
      $('charge').disabled = true;
      const d = res.data || {};
      if ($('message').hidden || $('message-text').textContent.indexOf(d.detail) < 0) showProblem(res, 'Price');
      return;
    }
    const q = res.data;
    state.quote = q;
    renderTotals(q);
    renderChange(q);
    updateCharge();
  }

  /** Is this till's drawer open (the cache's session)? A sale needs it. */
  function drawerOpen() {
    const s = state.ctx && state.ctx.cash_session;
    return !!(s && s.status === 'open');
  }

  /** Charge works once the cash covers the total and the drawer is open; else it says why. */
  function updateCharge() {
    const open = drawerOpen();
    $('charge').disabled = !state.quote || !state.quote.enough || !open;
    const hint = $('charge-hint');
    hint.hidden = open || !state.cart.length;
    hint.textContent = hint.hidden ? '' : 'Open the drawer first: count the float under Cash session, then charge.';
  }

  // The change to hand over, as a split ("Give $4.00 + ៛3,000"), and the switch between
  // the default split and all in riel (shown only when they differ).
  function renderChange(q) {
    const sw = $('change-switch');
    sw.hidden = true;
    if (q.tendered_cents === 0) { setChange('none', 'Enter the cash received'); return; }
    if (!q.enough) { setChange('short', 'Short by ' + usd(q.short_cents) + ' · ' + khr(q.short_khr)); return; }
    const d = q.change_default;
    const r = q.change_all_khr;
    const differ = d.usd_cents !== r.usd_cents || d.khr !== r.khr;
    if (!differ) state.changeAllRiel = false;
    const split = state.changeAllRiel ? r : d;
    setChange('', 'Give ' + splitText(split) + ' (change owed ' + usd(q.change_cents) + ')');
    if (differ) {
      sw.hidden = false;
      sw.textContent = state.changeAllRiel ? 'Give dollars + riel instead' : 'Give all the change in riel';
    }
  }

  $('change-switch').addEventListener('click', () => {
    state.changeAllRiel = !state.changeAllRiel;
    if (state.quote) renderChange(state.quote);
  });

  $('tender-usd').addEventListener('input', scheduleQuote);
  $('tender-khr').addEventListener('input', scheduleQuote);
  // A note button adds that note to what is already entered (two $5 notes make $10); an
  // amount that cannot be read is replaced.
  document.querySelectorAll('.quick [data-usd]').forEach((b) => b.addEventListener('click', () => {
    const now = parseDollars($('tender-usd').value, 0, false) || 0;
    $('tender-usd').value = dollarsInput(now + parseInt(b.dataset.usd, 10));
    scheduleQuote();
  }));
  document.querySelectorAll('.quick [data-khr]').forEach((b) => b.addEventListener('click', () => {
    const now = parseRiel($('tender-khr').value, 0) || 0;
    $('tender-khr').value = String(now + parseInt(b.dataset.khr, 10));
    scheduleQuote();
  }));
  // The total in riel exactly (as the quote rounds it), with no dollars.
  $('tender-exact-khr').addEventListener('click', () => {
    if (!state.quote) return;
    $('tender-khr').value = String(state.quote.total_khr);
    $('tender-usd').value = '';
    scheduleQuote();
  });
  $('tender-exact').addEventListener('click', () => {
    if (!state.quote) return;
    $('tender-usd').value = dollarsInput(state.quote.total_cents);
    $('tender-khr').value = '';
    scheduleQuote();
  });
  $('tender-clear').addEventListener('click', () => {
    $('tender-usd').value = '';
    $('tender-khr').value = '';
    scheduleQuote();
  });

  // One checkout, one sale: every Charge of this cart sends the same Idempotency-Key, so
  // a double click, a retry after a timeout or two click events at once make one sale.
  // The key is dropped when the sale is made (the cart is then empty).
  function checkoutKey() {
    if (!state.checkoutKey) state.checkoutKey = crypto.randomUUID();
    return state.checkoutKey;
  }

  $('charge').addEventListener('click', async () => {
    if (!state.cart.length) return;
    const t = tender();
    if (t.usdC === null || t.riel === null) { showMessage('error', 'Check the cash amounts first.'); return; }
    const b = $('charge');
    b.disabled = true; b.textContent = 'Saving…';
    const key = checkoutKey();
    const res = await withConfirmation((confirm) =>
      api('POST', '/api/sales', saleBody(confirm), ACTION_TIMEOUT_MS, { 'Idempotency-Key': key }));
    b.textContent = 'Charge';
    if (!res.ok) {
      b.disabled = false;
      if (!res.cancelled) showProblem(res, 'Sale refused');
      return;
    }
    if (state.checkoutKey !== key) return; // a repeat of a checkout already shown
    state.checkoutKey = null;
    const r = res.data.receipt;
    // The receipt as this till keeps it (the same drawing as a reprint); if that read
    // fails, the sale's own answer.
    state.receipt = (await loadReceipt(r.sale_id)) || receiptOfSale(res.data);
    renderReceipt();
    refreshReceipts();
    showMessage(res.data.status === 'FAILED' ? 'error' : 'ok',
      'Sale ' + r.receipt_no + ': give change ' + splitText(r.change_given) + '. ' + syncWord(res.data));
    state.cart = [];
    state.changeAllRiel = false;
    $('tender-usd').value = '';
    $('tender-khr').value = '';
    cartChanged();
    await refreshContext();
    pollStatus(true);
  });

  // ------------------------------------------------------------------ receipt

  function vatIncluded() {
    const p = state.ctx && state.ctx.policy;
    return !p || p.prices_include_vat !== false;
  }

  // One receipt of this till (GET /api/receipts/{sale_id}), or null when it cannot be read.
  async function loadReceipt(saleId) {
    const res = await api('GET', '/api/receipts/' + encodeURIComponent(saleId), undefined, READ_TIMEOUT_MS);
    if (!res.ok) return null;
    if (res.data && res.data.header) state.header = res.data.header;
    return res.data;
  }

  // A sale's answer (POST /api/sales) in the shape of a kept receipt: what the page draws
  // when the kept one cannot be read at once (it is read again on the next change).
  function receiptOfSale(q) {
    const r = q.receipt;
    return {
      sale_id: r.sale_id, receipt_no: r.receipt_no, occurred_at: r.occurred_at, cashier: r.cashier, lines: r.lines,
      subtotal_cents: r.subtotal_cents, vat_cents: r.vat_cents, total_cents: r.total_cents, total_khr: null,
      tender: r.tender, change: r.change_given, fx: null, cash_session_id: null,
      sync: { status: q.status, code: q.code || null, message: q.message || null },
      voided: false, void: null, header: state.header || {},
    };
  }

  function syncBadge(r, id) {
    const s = r.sync || {};
    return el('span', { id, class: 'sync-state', 'data-status': s.status, text: s.status });
  }

  // The last sale's receipt, drawn like every receipt (receiptPaper), with its sync state.
  // `keepHidden`: a redraw does not show a receipt the cashier hid.
  function renderReceipt(keepHidden) {
    const box = $('receipt');
    const r = state.receipt;
    if (!r) { box.hidden = true; return; }
    const wasHidden = box.hidden;
    const note = el('div', { id: 'receipt-sync-note', class: 'hint', text: syncWord(r.sync) });
    const print = el('button', { id: 'receipt-print', type: 'button', class: 'btn small', text: 'Print' });
    const done = el('button', { type: 'button', class: 'btn small ghost', text: 'Hide receipt' });
    print.addEventListener('click', () => openPrintView(state.receipt));
    done.addEventListener('click', () => { box.hidden = true; });
    box.replaceChildren(
      el('div', { class: 'head' }, el('span', { text: 'Last sale' }), syncBadge(r, 'receipt-sync')),
      receiptPaper(r, 'receipt', vatIncluded()),
      note, el('div', { class: 'actions' }, print, done, voidControls(r)));
    box.hidden = keepHidden ? wasHidden : false;
  }

  // A void (online, a manager signed in): a reason, then the till asks the server; the
  // refund (the sale's total, whole dollars and the rest in riel) leaves this drawer.
  function voidControls(r) {
    const me = state.ctx && state.ctx.signed_in;
    const manager = me && (me.role === 'manager' || me.role === 'owner');
    const online = state.status && state.status.online;
    if (r.voided || !manager || !online || !r.sync || r.sync.status !== 'SYNCED') return null;
    const reason = el('input', { id: 'void-reason', type: 'text', class: 'small', maxLength: 200, placeholder: 'Why void it?' });
    const button = el('button', { id: 'void-sale', type: 'button', class: 'btn small danger', text: 'Void' });
    button.addEventListener('click', async () => {
      if (!reason.value.trim()) { showMessage('error', 'Say why the sale is voided (e.g. wrong drink).'); return; }
      button.disabled = true;
      const res = await api('POST', '/api/sales/' + r.sale_id + '/void', { reason: reason.value.trim() }, ACTION_TIMEOUT_MS,
        { 'Idempotency-Key': crypto.randomUUID() });
      button.disabled = false;
      if (!res.ok) { showProblem(res, 'Void refused'); return; }
      showMessage('ok', 'Sale ' + r.receipt_no + ' voided: give back ' + splitText(res.data.refund) + '.');
      await refreshLastReceipt();
      await refreshContext();
      refreshReceipts();
      pollStatus(true);
    });
    return el('span', { class: 'void-controls' }, reason, button);
  }

  // Reads the last receipt again (its sync state moves, a void may arrive) and redraws it
  // when that changed. Its time never changes: it is the sale's own.
  async function refreshLastReceipt() {
    const r = state.receipt;
    if (!r) return;
    const fresh = await loadReceipt(r.sale_id);
    if (!fresh || state.receipt !== r) return;
    state.receipt = fresh;
    const was = JSON.stringify([r.sync, r.voided, r.header]);
    if (JSON.stringify([fresh.sync, fresh.voided, fresh.header]) === was) return;
    renderReceipt(true);
    if (fresh.sync.status === 'FAILED' && r.sync.status !== 'FAILED') {
      showMessage('error', 'Sale ' + fresh.receipt_no + ' was refused by the server: ' + (fresh.sync.message || fresh.sync.code), fresh.sync.code);
    }
  }

  // ------------------------------------------------------------------ receipts (today's)

  // Today's receipts (today in the branch's time zone), newest first, from this till's
  // kept receipts: they survive a reload and a restart.
  async function refreshReceipts() {
    const res = await api('GET', '/api/receipts?limit=' + RECEIPTS_READ, undefined, READ_TIMEOUT_MS);
    if (!res.ok) { state.receiptsKey = ''; return; }
    const all = res.data.receipts || [];
    if (all.length) state.header = all[0].header;
    const tz = state.header && state.header.timezone;
    const today = dayKey(new Date(), tz);
    const list = all.filter((r) => dayKey(r.occurred_at, tz) === today);
    state.receipts = list;
    state.receiptsDay = today;
    const key = today + JSON.stringify(list.map((r) => [r.sale_id, r.sync.status, r.voided]));
    if (key !== state.receiptsKey) {
      state.receiptsKey = key;
      renderReceipts(list.length === all.length && all.length >= RECEIPTS_READ);
    }
    // The receipt open from the list follows its sync state and void too.
    const open = state.openReceipt && list.find((r) => r.sale_id === state.openReceipt.sale_id);
    if (open && JSON.stringify([open.sync, open.voided]) !== JSON.stringify([state.openReceipt.sync, state.openReceipt.voided])) {
      state.openReceipt = open;
      renderOpenReceipt();
    }
  }

  function renderReceipts(truncated) {
    const list = state.receipts;
    const tz = state.header && state.header.timezone;
    const ul = $('receipts-list');
    ul.replaceChildren();
    $('receipts-count').textContent = String(list.length);
    if (!list.length) ul.append(el('li', { class: 'hint none', text: 'No sales yet today.' }));
    for (const r of list) {
      const open = el('button', { type: 'button', class: 'receipt-open', title: 'Open receipt ' + r.receipt_no },
        el('strong', { class: 'no', text: r.receipt_no }),
        el('span', { class: 'time', text: saleClock(r.occurred_at, tz) }),
        el('span', { class: 'amount', text: usd(r.total_cents) }),
        el('span', { class: 'meta', text: (r.cashier && r.cashier.name) || '' }),
        el('span', { class: 'sync-state', 'data-status': r.sync.status, text: r.sync.status }),
        r.voided ? el('span', { class: 'void-badge', text: 'VOID' }) : null);
      open.addEventListener('click', () => openReceipt(r.sale_id));
      ul.append(el('li', { class: 'receipt-row', 'data-sale-id': r.sale_id }, open));
    }
    if (truncated) ul.append(el('li', { class: 'hint', text: 'Showing the latest ' + RECEIPTS_READ + ' receipts.' }));
  }

  async function openReceipt(saleId) {
    const r = await loadReceipt(saleId);
    if (!r) { showMessage('error', 'That receipt cannot be read right now; try again.'); return; }
    state.openReceipt = r;
    renderOpenReceipt();
    $('receipt-detail').scrollIntoView({ block: 'nearest' });
  }

  function renderOpenReceipt() {
    const r = state.openReceipt;
    const box = $('receipt-detail');
    if (!r) { box.hidden = true; return; }
    const reprint = el('button', { id: 'receipt-reprint', type: 'button', class: 'btn small primary', text: 'Reprint' });
    const close = el('button', { id: 'receipt-detail-close', type: 'button', class: 'btn small ghost', text: 'Close' });
    reprint.addEventListener('click', () => openPrintView(state.openReceipt));
    close.addEventListener('click', () => { state.openReceipt = null; box.hidden = true; });
    const parts = [
      el('div', { class: 'head' }, el('span', { text: 'Sync' }), syncBadge(r, 'detail-sync')),
      receiptPaper(r, 'detail', vatIncluded()),
    ];
    if (r.sync.status === 'FAILED') parts.push(el('div', { class: 'hint', text: syncWord(r.sync) }));
    parts.push(el('div', { class: 'actions' }, reprint, close));
    box.replaceChildren(...parts);
    box.hidden = false;
  }

  $('receipts-refresh').addEventListener('click', () => { state.receiptsKey = ''; refreshReceipts(); });

  // ------------------------------------------------------------------ print view

  // The receipt as the 80 mm thermal paper prints it: shown over the page (so the
  // cashier sees what prints), then the browser's print. The print stylesheet prints
  // this paper alone.
  function openPrintView(r) {
    if (!r) return;
    $('print-paper').replaceChildren(receiptPaper(r, 'print', vatIncluded()));
    $('print-view').hidden = false;
    state.printAuto = false;
    setTimeout(() => window.print(), 50);
  }

  $('print-now').addEventListener('click', () => window.print());
  $('print-close').addEventListener('click', () => { $('print-view').hidden = true; });
  // A print from the browser's menu prints the last receipt, never the whole page.
  window.addEventListener('beforeprint', () => {
    if (!$('print-view').hidden || !state.receipt) return;
    $('print-paper').replaceChildren(receiptPaper(state.receipt, 'print', vatIncluded()));
    $('print-view').hidden = false;
    state.printAuto = true;
  });
  window.addEventListener('afterprint', () => {
    if (state.printAuto) { $('print-view').hidden = true; state.printAuto = false; }
  });

  // ------------------------------------------------------------------ cash drawer

  // One table, a column per currency: the rows `[label, usd, khr, class, id]`.
  function drawerTable(rows) {
    const table = el('table', { class: 'drawer-table' },
      el('tr', {}, el('th', { text: '' }), el('th', { text: 'Dollars $' }), el('th', { text: 'Riel ៛' })));
    for (const [label, a, b, cls, id] of rows) {
      table.append(el('tr', { class: cls || '' }, el('td', { text: label }),
        el('td', { text: a === null ? '' : usd(a), id: id ? id : null }),
        el('td', { text: b === null ? '' : khr(b), id: id ? id + '-khr' : null })));
    }
    return table;
  }

  function varianceWord(v) {
    return v > 0 ? 'over' : v < 0 ? 'short' : 'exact';
  }

  // The counted, expected and variance rows of a closed (or previewed) session, and its
  // total variance in dollars.
  function countRows(s) {
    return [
      ['Expected', s.expected_cash_cents, s.expected_khr, 'grand', 'session-expected'],
      ['Counted', s.counted_cash_cents, s.counted_khr, '', 'session-counted'],
      ['Variance', s.variance_cents, s.variance_khr, 'grand', 'session-variance'],
    ];
  }

  function totalVariance(s) {
    const v = s.variance_total_cents;
    return el('p', { id: 'session-variance-total', class: v > 0 ? 'variance-over' : v < 0 ? 'variance-short' : 'variance-zero',
      text: 'Total variance: ' + usd(v) + ' (' + varianceWord(v) + '; riel counted at ' + khr(s.close_khr_per_usd) + ' per dollar)' });
  }

  function renderSession() {
    const s = state.ctx.cash_session;
    const open = !!(s && s.status === 'open');
    updateCharge();
    const blind = !state.ctx.policy || state.ctx.policy.blind_close !== false;
    $('open-form').hidden = open;
    $('movement-form').hidden = !open;
    $('close-form').hidden = !open;
    if (!open) { $('close-review').hidden = true; state.closeCounts = null; }
    const box = $('session');
    box.replaceChildren();
    box.dataset.status = s ? s.status : 'none';
    if (!s) {
      box.append(el('p', { class: 'hint', text: 'No cash session yet. Count the float into the drawer and open it to start selling.' }));
      return;
    }
    const rows = [
      ['Opening float', s.usd.float, s.khr.float],
      ['Cash received', s.usd.tendered, s.khr.tendered],
      ['Change given', -s.usd.change, -s.khr.change],
      ['Paid in', s.usd.paid_in, s.khr.paid_in],
      ['Paid out', -s.usd.paid_out, -s.khr.paid_out],
    ];
    if (s.usd.adjustments || s.khr.adjustments) rows.push(['Adjustments', s.usd.adjustments, s.khr.adjustments]);
    if (open && !blind) rows.push(['Expected', s.expected_cash_cents, s.expected_khr, 'grand', 'session-expected']);
    if (!open) rows.push(...countRows(s));
    const status = open ? 'Drawer open — opened ' + when(s.opened_at) : 'Drawer closed ' + when(s.closed_at) + ' — open a new session to sell again';
    box.append(el('p', { class: 'status', text: status }), drawerTable(rows));
    if (open && blind) box.append(el('p', { class: 'hint', text: 'What the drawer should hold is shown after you count it (blind close).' }));
    if (!open) box.append(totalVariance(s));
  }

  $('open-session').addEventListener('click', async () => {
    const cents = parseDollars($('open-float').value, null, false);
    const riel = parseRiel($('open-float-khr').value, 0);
    if (cents === null) { showMessage('error', 'The dollar float cannot be read: ' + MONEY_HELP + '.'); return; }
    if (riel === null) { showMessage('error', 'The riel float cannot be read: whole riel, like 40000 or 40,000.'); return; }
    const b = $('open-session');
    b.disabled = true;
    const res = await withConfirmation((confirm) => api('POST', '/api/cash-sessions/open',
      { opening_float_cents: cents, opening_float_khr: riel, confirm }, ACTION_TIMEOUT_MS));
    b.disabled = false;
    if (res.ok) {
      $('open-float').value = ''; $('open-float-khr').value = '';
      showDone(res.data, 'Drawer opened with ' + usd(cents) + ' and ' + khr(riel) + '.');
    } else if (!res.cancelled) {
      showProblem(res, 'Open drawer');
    }
    await refreshContext();
    pollStatus(true);
  });

  $('movement-submit').addEventListener('click', async () => {
    const kind = $('movement-kind').value;
    const inRiel = $('movement-currency').value === 'khr';
    const text = $('movement-amount').value;
    const amount = inRiel ? parseRielSigned(text, kind === 'adjustment') : parseDollars(text, null, kind === 'adjustment');
    if (amount === null) {
      showMessage('error', 'The amount cannot be read: ' + (inRiel ? 'whole riel, like 8000 or 8,000' : MONEY_HELP) + '.');
      return;
    }
    const reason = $('movement-reason').value.trim();
    const body = inRiel ? { kind, amount_khr: amount, reason } : { kind, amount_cents: amount, reason };
    const res = await act($('movement-submit'), 'Saving…', 'POST', '/api/cash-sessions/movement', body, 'Cash in/out');
    if (res.ok) {
      $('movement-amount').value = ''; $('movement-reason').value = '';
      showDone(res.data, $('movement-kind').selectedOptions[0].textContent + ' ' + (inRiel ? khr(amount) : usd(amount)) + ' recorded.');
    }
  });

  // Riel typed for a movement: an adjustment may be negative ("-500").
  function parseRielSigned(text, allowNegative) {
    const t = String(text || '').trim();
    const neg = t.startsWith('-');
    if (neg && !allowNegative) return null;
    const v = parseRiel(neg ? t.slice(1) : t, null);
    return v === null ? null : (neg ? -v : v);
  }

  // Closing is two steps: the cashier counts both currencies (without seeing what was
  // expected under a blind close), then sees the variance and closes, or counts again.
  $('close-count').addEventListener('click', async () => {
    const cents = parseDollars($('close-counted').value, null, false);
    const riel = parseRiel($('close-counted-khr').value, null);
    if (cents === null) { showMessage('error', 'The counted dollars cannot be read: ' + MONEY_HELP + '.'); return; }
    if (riel === null) { showMessage('error', 'The counted riel cannot be read: whole riel, like 52000 or 52,000 (0 if none).'); return; }
    const counts = { counted_cash_cents: cents, counted_khr: riel };
    const res = await api('POST', '/api/cash-sessions/close/preview', counts, ACTION_TIMEOUT_MS);
    if (!res.ok) { showProblem(res, 'Close drawer'); return; }
    state.closeCounts = counts;
    $('close-review-table').replaceChildren(drawerTable(countRows(res.data)), totalVariance(res.data));
    $('close-review').hidden = false;
  });

  $('close-recount').addEventListener('click', () => {
    state.closeCounts = null;
    $('close-review').hidden = true;
  });

  $('close-session').addEventListener('click', async () => {
    const counts = state.closeCounts;
    if (!counts) { showMessage('error', 'Count the drawer first, then check the count.'); return; }
    const res = await act($('close-session'), 'Closing…', 'POST', '/api/cash-sessions/close', counts, 'Close drawer');
    if (res.ok) {
      $('close-counted').value = ''; $('close-counted-khr').value = '';
      $('close-review').hidden = true;
      state.closeCounts = null;
      const s = res.data.cash_session || {};
      showDone(res.data, 'Drawer closed. Variance ' + usd(s.variance_cents) + ' and ' + khr(s.variance_khr) +
        ', in all ' + usd(s.variance_total_cents) + '.');
    }
  });

  // ------------------------------------------------------------------ attendance

  function renderShifts() {
    const ctx = state.ctx;
    const me = ctx.signed_in;
    const shifts = ctx.open_shifts || [];
    const mine = me && shifts.find((s) => s.staff_id === me.staff_id);
    $('start-work').disabled = !me || !!mine;
    $('end-work').disabled = !me || !mine;
    $('my-shift').textContent = !me ? '' : mine ? 'You are on shift since ' + clock(mine.started_at) + '.' : 'You are not on shift.';
    const ul = $('open-shifts');
    ul.replaceChildren();
    if (!shifts.length) ul.append(el('li', { class: 'hint', text: 'Nobody is on shift.' }));
    for (const s of shifts) {
      ul.append(el('li', { 'data-staff-id': s.staff_id }, el('strong', { text: staffName(s.staff_id) }), ' since ' + clock(s.started_at)));
    }
  }

  $('start-work').addEventListener('click', async () => {
    const res = await act($('start-work'), 'Starting…', 'POST', '/api/attendance/start', {}, 'Start work');
    if (res.ok) showDone(res.data, 'Shift started.');
  });
  $('end-work').addEventListener('click', async () => {
    const res = await act($('end-work'), 'Ending…', 'POST', '/api/attendance/end', {}, 'End work');
    if (res.ok) showDone(res.data, 'Shift ended.');
  });

  // ------------------------------------------------------------------ stock (online only)

  function renderStock() {
    const stock = state.ctx.stock || [];
    const key = JSON.stringify(stock);
    if (key === state.stockKey) return;
    state.stockKey = key;
    const sel = $('restock-item');
    const keep = sel.value;
    sel.replaceChildren(el('option', { value: '', text: stock.length ? 'Choose an item…' : 'No stock items downloaded' }));
    for (const s of stock) {
      sel.append(el('option', { value: s.stock_item_id,
        text: s.name + ' — about ' + Number(s.estimated_on_hand).toLocaleString('en-US') + ' ' + (s.unit || '') + ' left' }));
    }
    if (stock.some((s) => s.stock_item_id === keep)) sel.value = keep;
  }

  function renderOnlineOnly() {
    const online = !!(state.status && state.status.online);
    const me = state.ctx && state.ctx.signed_in;
    let reason = '';
    if (!online) reason = 'Restocking needs the internet: this till is offline. Sales still work.';
    else if (me && me.role === 'cashier') reason = 'Restocking needs a manager: sign in as a manager.';
    for (const id of ['restock-item', 'restock-qty', 'restock-submit']) $(id).disabled = !!reason;
    $('restock-reason').textContent = reason;
    $('restock-submit').title = reason;
  }

  $('restock-submit').addEventListener('click', async () => {
    const item = $('restock-item').value;
    const qty = parseRiel($('restock-qty').value, null); // a whole number
    if (!item) { showMessage('error', 'Choose the stock item to restock.'); return; }
    if (!qty) { showMessage('error', 'Enter how much arrived, as a whole number.'); return; }
    const res = await act($('restock-submit'), 'Saving…', 'POST', '/api/inventory/restock', { stock_item_id: item, qty }, 'Restock');
    if (res.ok) { $('restock-qty').value = ''; showMessage('ok', 'Restocked ' + qty + ' on the server.'); }
  });

  // ------------------------------------------------------------------ failed ops

  async function refreshFailed() {
    const res = await api('GET', '/api/ops?status=FAILED&limit=1000', undefined, READ_TIMEOUT_MS);
    if (!res.ok) { state.failedKey = ''; return; } // try again on the next poll
    const ops = (res.data.ops || []).slice().reverse(); // newest first
    const ul = $('failed-list');
    ul.replaceChildren();
    if (!ops.length) {
      ul.append(el('li', { class: 'hint none', text: 'No problems: the server has accepted everything so far.' }));
      return;
    }
    for (const o of ops) {
      // What a person recognises it by: a sale's receipt number and amount, who, when.
      const what = o.receipt_no
        ? 'Sale ' + o.receipt_no + (o.total_cents !== null && o.total_cents !== undefined ? ' · ' + usd(o.total_cents) : '')
        : (OP_NAMES[o.type] || o.type);
      const who = o.actor_name ? ' · ' + o.actor_name : '';
      const r = o.resolution;
      const resolved = r
        ? el('span', { class: 'resolution', 'data-action': r.action,
          text: (r.action === 'accept' ? 'Resolved: accepted by a manager ' : 'Resolved: dismissed by a manager ') +
            when(r.at) + (r.note ? ' — ' + r.note : '') })
        : null;
      ul.append(el('li', { class: 'failed-op', 'data-op-id': o.client_op_id, 'data-code': o.code || '' },
        el('span', { class: 'code', text: o.code || 'REFUSED' }),
        el('strong', { text: what }),
        el('span', { class: 'meta', text: who + ' · ' + when(o.occurred_at) }),
        el('span', { class: 'msg', text: o.message || '' }),
        resolved));
    }
  }

  // ------------------------------------------------------------------ start

  loadCart();
  renderCart();
  renderTotals(null);
  scheduleQuote();
  pollStatus(true);
  refreshContext();
  refreshFailed();
  refreshReceipts();
  setInterval(() => pollStatus(false), STATUS_EVERY_MS);
})();
