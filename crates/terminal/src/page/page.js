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
    moneyHelp,
    parseRiel,
    ago,
    clock,
    when,
    saleClock,
    dayKey,
    receiptPaper,
    opName,
    roleName,
    el,
    frag,
    onLang,
    showMessage,
    showProblem,
    problemSentence,
    showDone,
    syncWord,
    syncName,
  } = window.ModulaTill;

  // `busyText` and `what` are functions giving the words in the chosen language.
  async function act(button, busyText, method, path, body, what) {
    const label = button ? button.textContent : '';
    if (button) { button.disabled = true; button.textContent = busyText(); }
    const res = await api(method, path, body, ACTION_TIMEOUT_MS);
    if (button) {
      // Its words in the language chosen now (one may have been chosen meanwhile).
      button.textContent = button.dataset.i18n ? I18n.t(button.dataset.i18n) : label;
      button.disabled = false;
    }
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
    c.textContent = online ? I18n.t('status.online') : I18n.t('status.offline');
    c.className = 'conn ' + (online ? 'online' : 'offline');
    c.dataset.online = String(online);
    c.title = online ? I18n.t('status.online_title') : I18n.t('status.offline_title');
  }

  function renderStatus(s) {
    setConn(!!s.online);
    // How long offline (since the server last answered), and a draining backlog's progress.
    const offFor = $('offline-for');
    const since = s.offline_since ? Date.parse(s.offline_since) : NaN;
    offFor.hidden = !!s.online || Number.isNaN(since);
    offFor.textContent = offFor.hidden ? '' : I18n.t('status.offline_for', { span: span((Date.now() - since) / 1000) });
    const progress = $('sync-progress');
    progress.hidden = !(s.online && s.sync && s.sync.total > 1);
    progress.textContent = progress.hidden ? '' : I18n.t('status.syncing', { done: s.sync.done, total: s.sync.total });
    $('pending').textContent = String(s.pending);
    $('pending').classList.toggle('has', s.pending > 0);
    $('failed').textContent = String(s.failed);
    $('failed').classList.toggle('has', s.failed > 0);
    $('cache-age').textContent = s.hydrated ? ago(s.cache_age_s)
      : (s.cache_age_s == null ? I18n.t('time.never') : I18n.t('status.partial', { ago: ago(s.cache_age_s) }));
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
    t.textContent = s.simulated_outage ? I18n.t('outage.end') : I18n.t('outage.simulate');
    renderOnlineOnly();
  }

  $('outage-toggle').addEventListener('click', async () => {
    const on = !(state.status && state.status.simulated_outage);
    const res = await act($('outage-toggle'), () => (on ? I18n.t('outage.cutting') : I18n.t('outage.restoring')), 'POST', '/api/outage', { on },
      () => I18n.t('outage.simulate'));
    if (res.ok) showMessage('info', () => (on ? I18n.t('outage.cut_message') : I18n.t('outage.restored_message')));
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
    return s ? s.name : I18n.t('staff.someone', { id: String(id).slice(0, 8) });
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
    $('signed-in-name').replaceChildren(...(who ? [el('span', { translate: 'no', text: who.name }), ' (' + roleName(who.role) + ')'] : []));
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
    sel.replaceChildren(el('option', { value: '', text: staff.length ? I18n.t('signin.choose') : I18n.t('signin.no_staff') }));
    // A person's name is data (translate="no"); the role beside it is in the chosen language.
    for (const s of staff) sel.append(el('option', { value: s.id, translate: 'no', text: s.name + ' — ' + roleName(s.role) }));
    if (staff.some((s) => s.id === keep)) sel.value = keep;
    else if (staff.length === 1) sel.value = staff[0].id;
    $('signin-hint').textContent = staff.length ? '' : I18n.t('signin.no_staff_hint');
  }

  document.querySelectorAll('#keypad button').forEach((b) => {
    b.addEventListener('click', () => {
      const pin = $('signin-pin');
      const k = b.dataset.key;
      if (k === 'clear') pin.value = '';
      else if (k === 'back') pin.value = pin.value.slice(0, -1);
      else if (pin.value.length < 8) pin.value += k;
      clearSigninError();
    });
  });

  // Why sign-in was refused: the sentence for its code, the till's detail beneath it
  // (translate="no": the till's own words), and for a lock the countdown. Drawn again in
  // a new language.
  function showSigninError(draw) {
    state.signinError = draw;
    drawSigninError();
  }
  function clearSigninError() {
    state.signinError = null;
    $('signin-error').replaceChildren();
  }
  function drawSigninError() {
    if (state.signinError) $('signin-error').replaceChildren(...state.signinError());
  }
  onLang(drawSigninError);
  function errorParts(sentence, detail) {
    return [el('span', { class: 'sentence', text: sentence }), detail ? el('small', { class: 'detail', translate: 'no', text: detail }) : null]
      .filter(Boolean);
  }

  async function signIn() {
    const staff_id = $('signin-staff').value;
    const pin = $('signin-pin').value;
    if (!staff_id) { showSigninError(() => errorParts(I18n.t('signin.choose_first'))); return; }
    if (!pin) { showSigninError(() => errorParts(I18n.t('signin.enter_pin'))); return; }
    const b = $('signin-submit');
    b.disabled = true; b.textContent = I18n.t('signin.checking');
    const res = await api('POST', '/api/signin', { staff_id, pin }, ACTION_TIMEOUT_MS);
    b.disabled = false; b.textContent = I18n.t('signin.submit');
    $('signin-pin').value = '';
    if (!res.ok) {
      const d = res.data || {};
      if (d.code === 'PIN_LOCKED' && d.retry_after_s) {
        const s = ((state.ctx && state.ctx.staff) || []).find((x) => x.id === staff_id);
        lockCountdown(staff_id, s ? s.name : '', d.retry_after_s, d.detail || '');
        return;
      }
      showSigninError(() => errorParts(problemSentence(d), d.detail || (res.status ? 'HTTP ' + res.status : '')));
      showProblem(res, () => I18n.t('signin.title'));
      return;
    }
    clearSigninError();
    const name = res.data.name;
    showMessage('ok', () => frag(I18n.t('signin.welcome'), { name }));
    // The next person starts at the top of the page, not where the last one left it.
    $('main').scrollTop = 0;
    window.scrollTo(0, 0);
    await refreshContext();
    pollStatus(true);
  }

  // A person's PIN lock, counted down each second while that person is chosen (the lock
  // is theirs alone: choosing someone else clears it from view).
  function lockCountdown(staffId, name, seconds, detail) {
    clearInterval(state.lockTimer);
    const end = Date.now() + seconds * 1000;
    const tick = () => {
      const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      if ($('signin-staff').value !== staffId || left === 0) {
        clearInterval(state.lockTimer);
        clearSigninError();
        return;
      }
      const mmss = Math.floor(left / 60) + ':' + String(left % 60).padStart(2, '0');
      showSigninError(() => [el('span', { class: 'sentence', text: I18n.problem({ code: 'PIN_LOCKED' }).sentence }), ' ',
        el('span', { class: 'countdown' }, frag(I18n.t('signin.locked'), { name, time: mmss })),
        detail ? el('small', { class: 'detail', translate: 'no', text: detail }) : null].filter(Boolean));
    };
    tick();
    state.lockTimer = setInterval(tick, 1000);
  }

  $('signin-staff').addEventListener('change', () => { clearInterval(state.lockTimer); clearSigninError(); });
  $('signin-submit').addEventListener('click', signIn);
  $('signin-pin').addEventListener('keydown', (e) => { if (e.key === 'Enter') signIn(); });
  $('signin-pin').addEventListener('input', () => { clearSigninError(); });
  $('signout').addEventListener('click', async () => {
    await act($('signout'), () => I18n.t('signout.busy'), 'POST', '/api/signout', undefined, () => I18n.t('signout.button'));
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
        box.append(el('p', { class: 'hint', text: I18n.t('menu.not_downloaded') }));
      }
      let grid = null;
      let cat = null;
      for (const item of menu) {
        if (item.category !== cat) {
          cat = item.category;
          grid = el('div', { class: 'grid' });
          box.append(cat ? el('h3', { translate: 'no', text: cat }) : el('h3', { text: I18n.t('menu.other') }), grid);
        }
        const b = el('button', { type: 'button', class: 'menu-item', 'data-item-id': item.id, title: I18n.t('menu.add', { name: item.name }) },
          el('span', { class: 'name', translate: 'no', text: item.name }), el('span', { class: 'price', text: usd(item.price_cents) }));
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
    const n = gone.length;
    showMessage('info', () => I18n.t('order.pruned', { n }));
    scheduleQuote();
  }

  function renderCart() {
    const menu = menuById();
    const ul = $('cart');
    ul.replaceChildren();
    for (const l of state.cart) {
      const item = menu.get(l.id);
      const name = item ? item.name : l.id.slice(0, 8);
      const minus = el('button', { type: 'button', class: 'qty-minus', 'aria-label': I18n.t('order.one_less', { name }), text: '−' });
      const plus = el('button', { type: 'button', class: 'qty-plus', 'aria-label': I18n.t('order.one_more', { name }), text: '+' });
      const remove = el('button', { type: 'button', class: 'remove', 'aria-label': I18n.t('order.remove', { name }), text: '×' });
      minus.addEventListener('click', () => setQty(l.id, l.qty - 1));
      plus.addEventListener('click', () => setQty(l.id, l.qty + 1));
      remove.addEventListener('click', () => setQty(l.id, 0));
      ul.append(el('li', { class: 'cart-line', 'data-item-id': l.id },
        el('span', { class: 'name', translate: 'no', text: name }),
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
      const asked = res.data;
      const yes = await confirmInPage(() => problemSentence(asked), asked.detail);
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
      ? I18n.t('order.khr_note', { step: khr(policy.khr_rounding), rate: khr(policy.khr_per_usd) })
      : '';
    const inclusive = !policy || policy.prices_include_vat !== false;
    $('vat-label').textContent = inclusive ? I18n.t('order.vat_included') : I18n.t('order.vat');
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
      setChange('none', I18n.t('change.none'));
      $('change-switch').hidden = true;
      updateCharge();
      return;
    }
    if (t.usdC === null || t.riel === null) {
      setChange('short', t.usdC === null ? I18n.t('change.usd_unreadable', { help: moneyHelp() }) : I18n.t('change.khr_unreadable'));
      $('charge').disabled = true;
      return;
    }
    const res = await api('POST', '/api/quote', saleBody(), READ_TIMEOUT_MS);
    if (seq !== state.quoteSeq) return; // a newer quote is on its way
    if (!res.ok) {
      state.quote = null;
      renderTotals(null);
      setChange('short', I18n.t('change.cannot_price'));
      $('charge').disabled = true;
      const d = res.data || {};
      if ($('message').hidden || $('message-detail').textContent.indexOf(d.detail) < 0) showProblem(res, () => I18n.t('act.price'));
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
    hint.textContent = hint.hidden ? '' : I18n.t('order.open_drawer_first');
  }

  // The change to hand over, as a split ("Give $4.00 + ៛3,000"), and the switch between
  // the default split and all in riel (shown only when they differ).
  function renderChange(q) {
    const sw = $('change-switch');
    sw.hidden = true;
    if (q.tendered_cents === 0) { setChange('none', I18n.t('change.enter_cash')); return; }
    if (!q.enough) { setChange('short', I18n.t('change.short', { usd: usd(q.short_cents), khr: khr(q.short_khr) })); return; }
    const d = q.change_default;
    const r = q.change_all_khr;
    const differ = d.usd_cents !== r.usd_cents || d.khr !== r.khr;
    if (!differ) state.changeAllRiel = false;
    const split = state.changeAllRiel ? r : d;
    setChange('', I18n.t('change.give', { split: splitText(split), owed: usd(q.change_cents) }));
    if (differ) {
      sw.hidden = false;
      sw.textContent = state.changeAllRiel ? I18n.t('change.switch_split') : I18n.t('change.switch_riel');
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
    if (t.usdC === null || t.riel === null) { showMessage('error', () => I18n.t('order.check_cash')); return; }
    const b = $('charge');
    b.disabled = true; b.textContent = I18n.t('common.saving');
    const key = checkoutKey();
    const res = await withConfirmation((confirm) =>
      api('POST', '/api/sales', saleBody(confirm), ACTION_TIMEOUT_MS, { 'Idempotency-Key': key }));
    b.textContent = I18n.t('order.charge');
    if (!res.ok) {
      b.disabled = false;
      if (!res.cancelled) showProblem(res, () => I18n.t('act.sale_refused'));
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
    const sold = res.data;
    showMessage(sold.status === 'FAILED' ? 'error' : 'ok',
      () => frag(I18n.t('order.sold'), { no: r.receipt_no, change: splitText(r.change_given), sync: syncWord(sold) }),
      sold.status === 'FAILED' ? sold.code : '', sold.status === 'FAILED' ? (sold.message || '') : '');
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

  // The server's own words on a refused sale, beneath the sentence (translate="no").
  function failedDetail(sync) {
    return sync && sync.status === 'FAILED' && sync.message ? el('small', { class: 'detail', translate: 'no', text: sync.message }) : null;
  }

  function syncBadge(r, id) {
    const s = r.sync || {};
    return el('span', { id, class: 'sync-state', 'data-status': s.status, text: syncName(s.status) });
  }

  // The last sale's receipt, drawn like every receipt (receiptPaper), with its sync state.
  // `keepHidden`: a redraw does not show a receipt the cashier hid.
  function renderReceipt(keepHidden) {
    const box = $('receipt');
    const r = state.receipt;
    if (!r) { box.hidden = true; return; }
    const wasHidden = box.hidden;
    const note = el('div', { id: 'receipt-sync-note', class: 'hint' }, syncWord(r.sync), failedDetail(r.sync));
    const print = el('button', { id: 'receipt-print', type: 'button', class: 'btn small', text: I18n.t('print.print') });
    const done = el('button', { type: 'button', class: 'btn small ghost', text: I18n.t('receipt.hide') });
    print.addEventListener('click', () => openPrintView(state.receipt));
    done.addEventListener('click', () => { box.hidden = true; });
    box.replaceChildren(
      el('div', { class: 'head' }, el('span', { text: I18n.t('receipt.last_sale') }), syncBadge(r, 'receipt-sync')),
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
    const reason = el('input', { id: 'void-reason', type: 'text', class: 'small', maxLength: 200, placeholder: I18n.t('void.reason') });
    const button = el('button', { id: 'void-sale', type: 'button', class: 'btn small danger', text: I18n.t('void.button') });
    button.addEventListener('click', async () => {
      if (!reason.value.trim()) { showMessage('error', () => I18n.t('void.say_why')); return; }
      button.disabled = true;
      const res = await api('POST', '/api/sales/' + r.sale_id + '/void', { reason: reason.value.trim() }, ACTION_TIMEOUT_MS,
        { 'Idempotency-Key': crypto.randomUUID() });
      button.disabled = false;
      if (!res.ok) { showProblem(res, () => I18n.t('void.refused')); return; }
      const refund = splitText(res.data.refund);
      showMessage('ok', () => frag(I18n.t('void.done'), { no: r.receipt_no, refund }));
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
      showMessage('error', () => frag(I18n.t('receipt.refused'), { no: fresh.receipt_no, reason: I18n.problem({ code: fresh.sync.code }).sentence }),
        fresh.sync.code, fresh.sync.message || '');
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
      state.receiptsTruncated = list.length === all.length && all.length >= RECEIPTS_READ;
      renderReceipts(state.receiptsTruncated);
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
    if (!list.length) ul.append(el('li', { class: 'hint none', text: I18n.t('receipts.none') }));
    for (const r of list) {
      const open = el('button', { type: 'button', class: 'receipt-open', title: I18n.t('receipts.open', { no: r.receipt_no }) },
        el('strong', { class: 'no', translate: 'no', text: r.receipt_no }),
        el('span', { class: 'time', text: saleClock(r.occurred_at, tz) }),
        el('span', { class: 'amount', text: usd(r.total_cents) }),
        el('span', { class: 'meta', translate: 'no', text: (r.cashier && r.cashier.name) || '' }),
        el('span', { class: 'sync-state', 'data-status': r.sync.status, text: syncName(r.sync.status) }),
        r.voided ? el('span', { class: 'void-badge', text: I18n.t('receipt.void') }) : null);
      open.addEventListener('click', () => openReceipt(r.sale_id));
      ul.append(el('li', { class: 'receipt-row', 'data-sale-id': r.sale_id }, open));
    }
    if (truncated) ul.append(el('li', { class: 'hint', text: I18n.t('receipts.truncated', { n: RECEIPTS_READ }) }));
  }

  async function openReceipt(saleId) {
    const r = await loadReceipt(saleId);
    if (!r) { showMessage('error', () => I18n.t('receipts.unreadable')); return; }
    state.openReceipt = r;
    renderOpenReceipt();
    $('receipt-detail').scrollIntoView({ block: 'nearest' });
  }

  function renderOpenReceipt() {
    const r = state.openReceipt;
    const box = $('receipt-detail');
    if (!r) { box.hidden = true; return; }
    const reprint = el('button', { id: 'receipt-reprint', type: 'button', class: 'btn small primary', text: I18n.t('receipts.reprint') });
    const close = el('button', { id: 'receipt-detail-close', type: 'button', class: 'btn small ghost', text: I18n.t('print.close') });
    reprint.addEventListener('click', () => openPrintView(state.openReceipt));
    close.addEventListener('click', () => { state.openReceipt = null; box.hidden = true; });
    const parts = [
      el('div', { class: 'head' }, el('span', { text: I18n.t('receipts.sync') }), syncBadge(r, 'detail-sync')),
      receiptPaper(r, 'detail', vatIncluded()),
    ];
    if (r.sync.status === 'FAILED') parts.push(el('div', { class: 'hint' }, syncWord(r.sync), failedDetail(r.sync)));
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
    state.printing = r;
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
    state.printing = state.receipt;
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
      el('tr', {}, el('th', { text: '' }), el('th', { text: I18n.t('movement.usd') }), el('th', { text: I18n.t('movement.khr') })));
    for (const [label, a, b, cls, id] of rows) {
      table.append(el('tr', { class: cls || '' }, el('td', { text: label }),
        el('td', { text: a === null ? '' : usd(a), id: id ? id : null }),
        el('td', { text: b === null ? '' : khr(b), id: id ? id + '-khr' : null })));
    }
    return table;
  }

  function varianceWord(v) {
    return v > 0 ? I18n.t('variance.over') : v < 0 ? I18n.t('variance.short') : I18n.t('variance.exact');
  }

  // The counted, expected and variance rows of a closed (or previewed) session, and its
  // total variance in dollars.
  function countRows(s) {
    return [
      [I18n.t('drawer.expected'), s.expected_cash_cents, s.expected_khr, 'grand', 'session-expected'],
      [I18n.t('drawer.counted'), s.counted_cash_cents, s.counted_khr, '', 'session-counted'],
      [I18n.t('drawer.variance'), s.variance_cents, s.variance_khr, 'grand', 'session-variance'],
    ];
  }

  function totalVariance(s) {
    const v = s.variance_total_cents;
    return el('p', { id: 'session-variance-total', class: v > 0 ? 'variance-over' : v < 0 ? 'variance-short' : 'variance-zero',
      text: I18n.t('drawer.total_variance', { amount: usd(v), word: varianceWord(v), rate: khr(s.close_khr_per_usd) }) });
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
      box.append(el('p', { class: 'hint', text: I18n.t('drawer.none_yet') }));
      return;
    }
    const rows = [
      [I18n.t('drawer.float'), s.usd.float, s.khr.float],
      [I18n.t('drawer.received'), s.usd.tendered, s.khr.tendered],
      [I18n.t('receipt.change_given'), -s.usd.change, -s.khr.change],
      [I18n.t('movement.paid_in'), s.usd.paid_in, s.khr.paid_in],
      [I18n.t('movement.paid_out'), -s.usd.paid_out, -s.khr.paid_out],
    ];
    if (s.usd.adjustments || s.khr.adjustments) rows.push([I18n.t('drawer.adjustments'), s.usd.adjustments, s.khr.adjustments]);
    if (open && !blind) rows.push([I18n.t('drawer.expected'), s.expected_cash_cents, s.expected_khr, 'grand', 'session-expected']);
    if (!open) rows.push(...countRows(s));
    const status = open ? I18n.t('drawer.status_open', { at: when(s.opened_at) }) : I18n.t('drawer.status_closed', { at: when(s.closed_at) });
    box.append(el('p', { class: 'status', text: status }), drawerTable(rows));
    if (open && blind) box.append(el('p', { class: 'hint', text: I18n.t('drawer.blind') }));
    if (!open) box.append(totalVariance(s));
  }

  $('open-session').addEventListener('click', async () => {
    const cents = parseDollars($('open-float').value, null, false);
    const riel = parseRiel($('open-float-khr').value, 0);
    if (cents === null) { showMessage('error', () => I18n.t('drawer.float_usd_unreadable', { help: moneyHelp() })); return; }
    if (riel === null) { showMessage('error', () => I18n.t('drawer.float_khr_unreadable')); return; }
    const b = $('open-session');
    b.disabled = true;
    const res = await withConfirmation((confirm) => api('POST', '/api/cash-sessions/open',
      { opening_float_cents: cents, opening_float_khr: riel, confirm }, ACTION_TIMEOUT_MS));
    b.disabled = false;
    if (res.ok) {
      $('open-float').value = ''; $('open-float-khr').value = '';
      showDone(res.data, () => I18n.t('drawer.opened', { usd: usd(cents), khr: khr(riel) }));
    } else if (!res.cancelled) {
      showProblem(res, () => I18n.t('drawer.open'));
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
      showMessage('error', () => (inRiel ? I18n.t('movement.khr_unreadable') : I18n.t('movement.usd_unreadable', { help: moneyHelp() })));
      return;
    }
    const reason = $('movement-reason').value.trim();
    const body = inRiel ? { kind, amount_khr: amount, reason } : { kind, amount_cents: amount, reason };
    const res = await act($('movement-submit'), () => I18n.t('common.saving'), 'POST', '/api/cash-sessions/movement', body, () => I18n.t('op.movement'));
    if (res.ok) {
      $('movement-amount').value = ''; $('movement-reason').value = '';
      const money = inRiel ? khr(amount) : usd(amount);
      const kindName = () => (kind === 'paid_in' ? I18n.t('movement.paid_in') : kind === 'paid_out' ? I18n.t('movement.paid_out') : I18n.t('movement.adjustment'));
      showDone(res.data, () => I18n.t('movement.recorded', { kind: kindName(), amount: money }));
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
    if (cents === null) { showMessage('error', () => I18n.t('close.usd_unreadable', { help: moneyHelp() })); return; }
    if (riel === null) { showMessage('error', () => I18n.t('close.khr_unreadable')); return; }
    const counts = { counted_cash_cents: cents, counted_khr: riel };
    const res = await api('POST', '/api/cash-sessions/close/preview', counts, ACTION_TIMEOUT_MS);
    if (!res.ok) { showProblem(res, () => I18n.t('close.close')); return; }
    state.closeCounts = counts;
    state.closePreview = res.data;
    $('close-review-table').replaceChildren(drawerTable(countRows(res.data)), totalVariance(res.data));
    $('close-review').hidden = false;
  });

  $('close-recount').addEventListener('click', () => {
    state.closeCounts = null;
    $('close-review').hidden = true;
  });

  $('close-session').addEventListener('click', async () => {
    const counts = state.closeCounts;
    if (!counts) { showMessage('error', () => I18n.t('close.count_first')); return; }
    const res = await act($('close-session'), () => I18n.t('close.closing'), 'POST', '/api/cash-sessions/close', counts, () => I18n.t('close.close'));
    if (res.ok) {
      $('close-counted').value = ''; $('close-counted-khr').value = '';
      $('close-review').hidden = true;
      state.closeCounts = null;
      const s = res.data.cash_session || {};
      showDone(res.data, () => I18n.t('close.done', { usd: usd(s.variance_cents), khr: khr(s.variance_khr), total: usd(s.variance_total_cents) }));
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
    $('my-shift').textContent = !me ? '' : mine ? I18n.t('shift.mine', { at: clock(mine.started_at) }) : I18n.t('shift.not_mine');
    const ul = $('open-shifts');
    ul.replaceChildren();
    if (!shifts.length) ul.append(el('li', { class: 'hint', text: I18n.t('shift.nobody') }));
    for (const s of shifts) {
      ul.append(el('li', { 'data-staff-id': s.staff_id }, frag(I18n.t('shift.since'), { name: staffName(s.staff_id), at: clock(s.started_at) })));
    }
  }

  $('start-work').addEventListener('click', async () => {
    const res = await act($('start-work'), () => I18n.t('shift.starting'), 'POST', '/api/attendance/start', {}, () => I18n.t('shift.start'));
    if (res.ok) showDone(res.data, () => I18n.t('shift.started'));
  });
  $('end-work').addEventListener('click', async () => {
    const res = await act($('end-work'), () => I18n.t('shift.ending'), 'POST', '/api/attendance/end', {}, () => I18n.t('shift.end'));
    if (res.ok) showDone(res.data, () => I18n.t('shift.ended'));
  });

  // ------------------------------------------------------------------ stock (online only)

  function renderStock() {
    const stock = state.ctx.stock || [];
    const key = JSON.stringify(stock);
    if (key === state.stockKey) return;
    state.stockKey = key;
    const sel = $('restock-item');
    const keep = sel.value;
    sel.replaceChildren(el('option', { value: '', text: stock.length ? I18n.t('stock.choose') : I18n.t('stock.none') }));
    // The item's name and unit are data (translate="no"); the words around them are not.
    for (const s of stock) {
      sel.append(el('option', { value: s.stock_item_id, translate: 'no',
        text: I18n.t('stock.option', { name: s.name, qty: Number(s.estimated_on_hand).toLocaleString('en-US'), unit: s.unit || '' }) }));
    }
    if (stock.some((s) => s.stock_item_id === keep)) sel.value = keep;
  }

  function renderOnlineOnly() {
    const online = !!(state.status && state.status.online);
    const me = state.ctx && state.ctx.signed_in;
    let reason = '';
    if (!online) reason = I18n.t('stock.needs_internet');
    else if (me && me.role === 'cashier') reason = I18n.t('stock.needs_manager');
    for (const id of ['restock-item', 'restock-qty', 'restock-submit']) $(id).disabled = !!reason;
    $('restock-reason').textContent = reason;
    $('restock-submit').title = reason;
  }

  $('restock-submit').addEventListener('click', async () => {
    const item = $('restock-item').value;
    const qty = parseRiel($('restock-qty').value, null); // a whole number
    if (!item) { showMessage('error', () => I18n.t('stock.choose_first')); return; }
    if (!qty) { showMessage('error', () => I18n.t('stock.qty_first')); return; }
    const res = await act($('restock-submit'), () => I18n.t('common.saving'), 'POST', '/api/inventory/restock', { stock_item_id: item, qty },
      () => I18n.t('stock.submit'));
    if (res.ok) { $('restock-qty').value = ''; showMessage('ok', () => I18n.t('stock.done', { qty })); }
  });

  // ------------------------------------------------------------------ failed ops

  async function refreshFailed() {
    const res = await api('GET', '/api/ops?status=FAILED&limit=1000', undefined, READ_TIMEOUT_MS);
    if (!res.ok) { state.failedKey = ''; return; } // try again on the next poll
    const ops = (res.data.ops || []).slice().reverse(); // newest first
    const ul = $('failed-list');
    ul.replaceChildren();
    if (!ops.length) {
      ul.append(el('li', { class: 'hint none', text: I18n.t('sync.no_problems') }));
      return;
    }
    for (const o of ops) {
      // What a person recognises it by: a sale's receipt number and amount, who, when.
      const what = o.receipt_no
        ? el('strong', {}, frag(I18n.t('sync.sale'), { no: o.receipt_no }),
          o.total_cents !== null && o.total_cents !== undefined ? ' · ' + usd(o.total_cents) : '')
        : el('strong', { text: opName(o.type) });
      const r = o.resolution;
      const resolved = r
        ? el('span', { class: 'resolution', 'data-action': r.action },
          (r.action === 'accept' ? I18n.t('sync.resolved_accepted', { at: when(r.at) }) : I18n.t('sync.resolved_dismissed', { at: when(r.at) })),
          r.note ? ' — ' : '', r.note ? el('span', { translate: 'no', text: r.note }) : '')
        : null;
      ul.append(el('li', { class: 'failed-op', 'data-op-id': o.client_op_id, 'data-code': o.code || '' },
        el('span', { class: 'code', translate: 'no', text: o.code || 'REFUSED' }),
        what,
        el('span', { class: 'meta' }, o.actor_name ? ' · ' : '', o.actor_name ? el('span', { translate: 'no', text: o.actor_name }) : '',
          ' · ' + when(o.occurred_at)),
        el('span', { class: 'msg' }, problemSentence({ code: o.code }),
          o.message ? el('small', { class: 'detail', translate: 'no', text: o.message }) : ''),
        resolved));
    }
  }

  // ------------------------------------------------------------------ language

  // A new language (the header's switch): everything the scripts wrote is drawn again
  // (the markup's own words were redrawn by I18n.apply just before).
  onLang(() => {
    state.staffKey = '';
    state.menuKey = '';
    state.stockKey = '';
    if (state.status) renderStatus(state.status);
    else setConn(false);
    if (state.ctx) renderContext();
    renderTotals(state.quote);
    scheduleQuote();
    updateCharge();
    if (state.receipt) renderReceipt(true);
    if (state.receiptsDay) renderReceipts(state.receiptsTruncated);
    if (state.openReceipt) renderOpenReceipt();
    if (state.closePreview && !$('close-review').hidden) {
      $('close-review-table').replaceChildren(drawerTable(countRows(state.closePreview)), totalVariance(state.closePreview));
    }
    if (state.printing && !$('print-view').hidden) $('print-paper').replaceChildren(receiptPaper(state.printing, 'print', vatIncluded()));
    state.failedKey = '';
    refreshFailed();
  });

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
