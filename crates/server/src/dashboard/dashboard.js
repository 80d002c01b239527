// Modula manager dashboard: vanilla JS, no build step. Element ids are documented at the
// top of index.html. Reads the JSON API with a staff token kept in sessionStorage.
//
// Every word the page shows comes from the string tables (crates/i18n/tables/dashboard.*.json,
// loaded before this script as window.I18n): markup carries data-i18n attributes, this script
// writes t() with literal keys. Data (names of people, items, branches,
// devices; receipt numbers; notes; the server's own details) sits in elements with
// translate="no". On a change of language (the `modula:lang` event) everything written
// here is drawn again from the data already loaded.
"use strict";

(() => {
  const TOKEN_KEY = "modula.dashboard.token";
  const ROLE_KEY = "modula.dashboard.role";
  const BRANCH_KEY = "modula.dashboard.branch";
  const SHOP_KEY = "modula.dashboard.shop"; // localStorage: the shop this browser signs in to
  const REFRESH_MS = 2500;
  const SSE_RETRY_MS = 3000;
  const AUDIT_SHOWN_MAX = 300;
  const REPORT_ROWS_MAX = 1000;
  const SALES_PAGE = 200;
  const DETAILS_AT_ONCE = 4; // GET /v1/sales/{id} requests in flight at most
  const DEFAULT_ZONE = "Asia/Phnom_Penh";

  const $ = (id) => document.getElementById(id);
  /** The string `key` of the chosen language (crates/i18n), `{name}` filled from `vars`. */
  const t = (key, vars) => window.I18n.t(key, vars);

  const state = {
    token: sessionStorage.getItem(TOKEN_KEY),
    role: sessionStorage.getItem(ROLE_KEY),
    staffId: sessionStorage.getItem("modula.dashboard.staff"),
    tenantId: sessionStorage.getItem("modula.dashboard.tenant"),
    branchId: sessionStorage.getItem(BRANCH_KEY),
    branches: [],
    branchesKey: "",
    devices: new Map(), // device_id -> {name, code}
    staff: new Map(), // staff_id -> name
    ticks: 0,
    timer: null,
    refreshing: false,
    refreshAgain: false,
    nudgeTimer: null,
    sse: null, // AbortController of the event stream
    sseLive: false,
    audit: { branchId: null, since: null, events: [], seen: new Set() },
    reportDate: null, // "YYYY-MM-DD" picked; null: today in the branch's time zone
    reportZ: null, // {sessionId, deviceId, openedAt}: the Z report shown instead of the day's
    salesShown: SALES_PAGE, // rows of the day's sales listed (More adds a page)
    // What was drawn last, to draw it again in another language.
    last: {}, // {devices, failures, sales, report, shifts, sessions}
    live: "polling",
    lastRefreshAt: null,
    message: null, // the error shown in #message
    loginError: null, // the error shown in #login-error
    saleShown: null, // the sale in #sale-detail
    // Notes being typed on failures, by client_op_id: a refresh redraws the rows, never
    // what a manager is writing.
    failureNotes: new Map(),
    confirmDraw: null, // redraws the open confirmation's words
    // Sales' details (lines, tender) for the rows of the sales list.
    saleDetails: new Map(), // sale_id -> GET /v1/sales/{id}
    detailQueue: [],
    detailWanted: new Set(), // queued or in flight
    detailActive: 0,
    salesRedraw: null,
  };

  // ---------------------------------------------------------------- formatting

  /** Cents as "$1,234.56" (negative: "-$1.23"); the same in both languages. */
  function money(cents) {
    if (cents === null || cents === undefined) return "–";
    const n = Number(cents);
    const abs = Math.abs(n);
    const dollars = Math.floor(abs / 100).toLocaleString("en-US");
    const rest = String(abs % 100).padStart(2, "0");
    return `${n < 0 ? "-" : ""}$${dollars}.${rest}`;
  }

  /** Riel as "៛4,100" (negative: "-៛100"). */
  function riel(khr) {
    if (khr === null || khr === undefined) return "–";
    return `${khr < 0 ? "-" : ""}៛${Math.abs(Number(khr)).toLocaleString("en-US")}`;
  }

  function signedRiel(khr) {
    if (khr === null || khr === undefined) return "–";
    return khr > 0 ? `+${riel(khr)}` : riel(khr);
  }

  /** A cell with a dollar amount over a riel amount (one per currency of the drawer). */
  function twoCurrencies(cents, khr, signed, extraClass) {
    const fmtUsd = signed ? signedMoney : money;
    const fmtKhr = signed ? signedRiel : riel;
    return el(
      "td",
      { class: `num ${extraClass || ""}`.trim() },
      el("div", { class: "usd" }, fmtUsd(cents)),
      el("div", { class: "khr" }, fmtKhr(khr)),
    );
  }

  /** A difference: "+$0.50", "-$0.50", "$0.00". */
  function signedMoney(cents) {
    if (cents === null || cents === undefined) return "–";
    return cents > 0 ? `+${money(cents)}` : money(cents);
  }

  /** A date and time in the chosen language, in the branch's time zone (24 h: no AM/PM). */
  function stamp(date, opts) {
    const base = { hourCycle: "h23", timeZone: branchZone() };
    try {
      return window.I18n.dateTime(date, { ...base, ...opts });
    } catch (_) {
      return window.I18n.dateTime(date, { ...base, ...opts, timeZone: DEFAULT_ZONE });
    }
  }

  /** The branch's time: "14:03:12" today, else "1 May 2024, 14:03". */
  function when(iso) {
    if (!iso) return "–";
    const d = iso instanceof Date ? iso : new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    if (dateIn(branchZone(), d) === dateIn(branchZone(), new Date())) {
      return stamp(d, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    }
    return stamp(d, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function ago(iso) {
    if (!iso) return t("time.never");
    const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
    if (s < 60) return t("time.seconds_ago", { n: s });
    if (s < 3600) return t("time.minutes_ago", { n: Math.floor(s / 60) });
    if (s < 86400) return t("time.hours_ago", { n: Math.floor(s / 3600) });
    return when(iso);
  }

  function gaps(list) {
    if (!list || list.length === 0) return t("devices.no_gaps");
    return list.map(([from, to]) => (from === to ? `${from}` : `${from}–${to}`)).join(", ");
  }

  const short = (id) => (id ? String(id).slice(0, 8) : "–");
  const deviceName = (id) => (id ? (state.devices.get(id)?.name ?? short(id)) : "–");
  const staffName = (id) => (id ? (state.staff.get(id) ?? short(id)) : "–");

  // ---------------------------------------------------------------- DOM helpers

  /** `el("td", {class: "num"}, "text")`; children are strings or nodes; text only, never HTML. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "title") node.title = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
    return node;
  }

  /** Data shown as it is, never translated (names, receipt numbers, notes, codes). */
  const data = (text, cls) => el("span", { translate: "no", class: cls }, text ?? "");

  /** A sentence from the table whose `{name}`s are nodes or strings (`data(name)` for a name). */
  function say(template, vars) {
    const out = [];
    let last = 0;
    template.replace(/\{(\w+)\}/g, (m, k, at) => {
      out.push(template.slice(last, at));
      out.push(k in vars ? vars[k] : m);
      last = at + m.length;
      return m;
    });
    out.push(template.slice(last));
    return el("span", {}, ...out.filter((x) => x !== ""));
  }

  function fill(tbodyId, rows, columns, emptyText) {
    const body = $(tbodyId);
    if (rows.length === 0) {
      body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: columns }, emptyText)));
    } else {
      body.replaceChildren(...rows);
    }
  }

  /**
   * An error as the page says it: a local one by its key; a refusal of the server as the
   * sentence for its code (crates/i18n errors table) with the server's own detail beneath.
   */
  function problemNodes(err) {
    if (err.key) return [el("span", { class: "problem-sentence" }, t(err.key))];
    const p = window.I18n.problem({ code: err.code, detail: err.message });
    const nodes = [el("span", { class: "problem-sentence" }, p.sentence)];
    if (p.detail) nodes.push(el("span", { class: "problem-detail", translate: "no" }, p.detail));
    return nodes;
  }

  function showProblem(box, err) {
    if (!err) {
      box.replaceChildren();
      box.removeAttribute("data-code");
      return;
    }
    box.replaceChildren(...problemNodes(err));
    if (err.code) box.dataset.code = err.code;
    else box.removeAttribute("data-code");
  }

  function showMessage(err) {
    state.message = err || null;
    showProblem($("message"), err);
  }

  function setLive(kind) {
    state.live = kind;
    const live = $("live");
    live.dataset.state = kind;
    live.textContent = kind === "live" ? t("live.live") : kind === "offline" ? t("live.offline") : t("live.polling");
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    /** `key`: a message of the page itself (its table key), shown instead of `detail`. */
    constructor(status, code, detail, key) {
      super(detail || key || "");
      this.status = status;
      this.code = code;
      this.key = key || null;
    }
  }

  /** A message of the page itself (not a refusal of the server). */
  const localError = (key) => new ApiError(0, null, "", key);

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let resp;
    try {
      resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      const err = localError("msg.network");
      err.network = true;
      throw err;
    }
    const text = await resp.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (_) {
      json = null;
    }
    if (!resp.ok) {
      const detail = (json && (json.detail || json.title)) || `${resp.status} ${resp.statusText}`;
      throw new ApiError(resp.status, json && json.code, detail);
    }
    return json;
  }

  // ---------------------------------------------------------------- sign-in

  function showLoginError(err) {
    state.loginError = err || null;
    showProblem($("login-error"), err);
  }

  function showLogin(error) {
    stopLoops();
    $("dashboard-view").hidden = true;
    $("session-bar").hidden = true;
    $("login-view").hidden = false;
    showLoginError(error);
    $("login-password").value = "";
    const focus = !$("login-shop").value ? "login-shop" : !$("login-name").value ? "login-name" : "login-password";
    $(focus).focus();
  }

  function signOut(error) {
    const token = state.token;
    if (token && !error) {
      // Revoke the token at the server too (best effort: an expired one is gone anyway).
      fetch("/v1/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${token}` } }).catch(() => {});
    }
    state.token = null;
    state.role = null;
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(ROLE_KEY);
    showLogin(error);
  }

  const sessionEnded = () => signOut(localError("msg.session_ended"));

  async function login(event) {
    event.preventDefault();
    const tenant = $("login-shop").value.trim().toLowerCase();
    const login = $("login-name").value.trim();
    const password = $("login-password").value;
    showLoginError(null);
    if (!tenant || !login || !password) {
      showLoginError(localError("login.incomplete"));
      return;
    }
    $("login-submit").disabled = true;
    try {
      state.token = null;
      const answer = await api("POST", "/v1/auth/login", { tenant, login, password });
      state.token = answer.token;
      state.role = answer.role;
      state.staffId = answer.staff_id;
      state.tenantId = answer.tenant_id;
      sessionStorage.setItem("modula.dashboard.staff", answer.staff_id);
      sessionStorage.setItem("modula.dashboard.tenant", answer.tenant_id);
      sessionStorage.setItem(TOKEN_KEY, answer.token);
      sessionStorage.setItem(ROLE_KEY, answer.role);
      localStorage.setItem(SHOP_KEY, tenant);
      await enter();
    } catch (e) {
      showLoginError(e);
    } finally {
      $("login-submit").disabled = false;
      $("login-password").value = "";
    }
  }

  /** "Signed in as manager", the role in the chosen language. */
  function drawWho() {
    const roles = { owner: t("role.owner"), manager: t("role.manager"), cashier: t("role.cashier") };
    const role = state.role ? roles[state.role] || data(state.role) : null;
    $("who").replaceChildren(role ? say(t("who.signed_in_as"), { role }) : t("who.signed_in"));
  }

  async function enter() {
    $("login-view").hidden = true;
    $("dashboard-view").hidden = false;
    $("session-bar").hidden = false;
    showLoginError(null);
    drawWho();
    setLive("polling");
    state.staff.clear();
    state.ticks = 0;
    await refresh();
    startLoops();
  }

  // ---------------------------------------------------------------- branches

  function renderBranches(branches) {
    state.branches = branches;
    if (!branches.some((b) => b.id === state.branchId)) {
      state.branchId = branches.length ? branches[0].id : null;
      if (state.branchId) sessionStorage.setItem(BRANCH_KEY, state.branchId);
    }
    const key = JSON.stringify([window.I18n.lang(), branches.map((b) => [b.id, b.name, b.status])]);
    if (key !== state.branchesKey) {
      state.branchesKey = key;
      const select = $("branch-select");
      // A branch's name is data: the option is not translated (its "(frozen)" is).
      select.replaceChildren(
        ...branches.map((b) =>
          el("option", { value: b.id, translate: "no" }, b.status === "frozen" ? t("branch.frozen_option", { name: b.name }) : b.name),
        ),
      );
      if (state.branchId) select.value = state.branchId;
    }
    const branch = branches.find((b) => b.id === state.branchId);
    const status = $("branch-status");
    status.textContent = !branch ? t("branch.none") : branch.status === "frozen" ? t("branch.frozen") : t("branch.active");
    status.dataset.status = branch ? branch.status : "";
    $("branch-address").textContent = branch && branch.address ? branch.address : "";
    $("branch-tz").textContent = branch ? branch.timezone || DEFAULT_ZONE : "";
    $("freeze").disabled = !branch || branch.status === "frozen";
    $("unfreeze").disabled = !branch || branch.status !== "frozen";
  }

  /** An in-page confirmation: resolves true when the manager confirms. `draw` writes its
   *  words (again on a change of language). */
  function confirmInPage(draw) {
    return new Promise((resolve) => {
      const box = $("confirm");
      state.confirmDraw = draw;
      draw();
      box.hidden = false;
      const done = (answer) => {
        box.hidden = true;
        state.confirmDraw = null;
        $("confirm-yes").onclick = null;
        $("confirm-no").onclick = null;
        resolve(answer);
      };
      $("confirm-yes").onclick = () => done(true);
      $("confirm-no").onclick = () => done(false);
      $("confirm-no").focus();
    });
  }

  async function setStatus(action) {
    if (!state.branchId) return;
    if (action === "freeze") {
      const branch = currentBranch();
      const ok = await confirmInPage(() => {
        $("confirm-text").replaceChildren(branch
          ? say(t("confirm.freeze"), { branch: data(branch.name) })
          : t("confirm.freeze_this"));
        $("confirm-yes").textContent = t("confirm.freeze_yes");
      });
      if (!ok) return;
    }
    const button = $(action);
    button.disabled = true;
    try {
      await api("POST", `/v1/branches/${state.branchId}/${action}`, {});
      showMessage(null);
    } catch (e) {
      if (e.status === 401) return sessionEnded();
      showMessage(e);
    }
    await refresh();
  }

  function onBranchChange() {
    state.branchId = $("branch-select").value;
    sessionStorage.setItem(BRANCH_KEY, state.branchId);
    state.reportDate = null;
    state.reportZ = null;
    state.salesShown = SALES_PAGE;
    state.last = {};
    resetAudit();
    startEvents();
    refresh();
  }

  // ---------------------------------------------------------------- reports

  /** A device quiet for longer than this while another of its branch was heard is flagged. */
  const QUIET_FLAG_MS = 15 * 60 * 1000;

  function renderDevices(devices) {
    state.last.devices = devices;
    state.devices = new Map(devices.map((d) => [d.device_id, d]));
    const seen = (d) => (d.last_seen_at ? new Date(d.last_seen_at).getTime() : null);
    const now = Date.now();
    // The branch had traffic: some device of it was heard within the window.
    const busy = devices.some((d) => !d.revoked && seen(d) !== null && now - seen(d) <= QUIET_FLAG_MS);
    const quiet = (d) => busy && !d.revoked && (seen(d) === null || now - seen(d) > QUIET_FLAG_MS);
    const rows = devices.map((d) =>
      el(
        "tr",
        { "data-device-id": d.device_id, "data-quiet": quiet(d) ? "true" : "false" },
        el("td", {}, data(d.name), d.revoked ? " " : "", d.revoked ? el("span", { class: "tag bad" }, t("devices.revoked")) : ""),
        el("td", { class: "mono", translate: "no" }, d.code ?? "–"),
        el(
          "td",
          { title: d.last_seen_at || "" },
          ago(d.last_seen_at),
          quiet(d)
            ? el("span", { class: "tag warn quiet" }, seen(d) === null
              ? t("devices.quiet_never")
              : t("devices.quiet_for", { n: Math.round((now - seen(d)) / 60000) }))
            : "",
        ),
        el("td", { class: "num" }, d.last_device_seq ?? 0),
        el(
          "td",
          { "data-gaps": JSON.stringify(d.gaps || []) },
          d.gaps && d.gaps.length ? el("span", { class: "tag warn" }, gaps(d.gaps)) : t("devices.no_gaps"),
        ),
      ),
    );
    fill("devices", rows, 5, t("devices.empty"));
  }

  /** What kind of operation, for a manager (the raw type when it is not one we name). */
  function opKind(type) {
    const kinds = {
      "sale.finalize": t("op.sale"),
      "sale.void": t("op.void"),
      "cashSession.open": t("op.drawer_open"),
      "cashSession.movement": t("op.drawer_movement"),
      "cashSession.close": t("op.drawer_close"),
      "attendance.startWork": t("op.start_work"),
      "attendance.endWork": t("op.end_work"),
    };
    return kinds[type] || data(type);
  }

  function renderFailures(failures) {
    state.last.failures = failures;
    const count = $("failures-count");
    const open = failures.filter((f) => !f.resolution);
    count.textContent = String(open.length);
    count.classList.toggle("has", open.length > 0);
    const rows = failures.map((f) => {
      // What a manager recognises: a sale's receipt number and amount, the cashier.
      const what = f.receipt_no
        ? say(f.total_cents != null ? t("failures.sale_amount") : t("failures.sale"), {
          receipt: data(f.receipt_no, "mono"),
          amount: money(f.total_cents),
        })
        : opKind(f.type);
      return el(
        "tr",
        { "data-client-op-id": f.client_op_id, "data-resolved": f.resolution ? f.resolution.action : "" },
        el("td", { title: f.occurred_at }, when(f.occurred_at || f.recorded_at)),
        el("td", { translate: "no" }, deviceName(f.device_id)),
        el("td", {}, what),
        el("td", { translate: "no" }, f.actor_name || staffName(f.actor_id)),
        el("td", {}, el("span", { class: "tag bad", "data-code": f.code, translate: "no" }, f.code)),
        el("td", { class: "problem" }, ...problemNodes(new ApiError(0, f.code, f.message))),
        el("td", {}, resolutionCell(f)),
      );
    });
    // The refresh redraws the rows every few seconds: the note being typed keeps its
    // text (failureNotes), its focus and its caret.
    const active = document.activeElement;
    const typing = active && active.classList && active.classList.contains("note") ? active.closest("tr") : null;
    const focusedId = typing ? typing.getAttribute("data-client-op-id") : null;
    const caret = typing ? [active.selectionStart, active.selectionEnd] : null;
    const listed = new Set(failures.filter((f) => !f.resolution).map((f) => f.client_op_id));
    for (const id of [...state.failureNotes.keys()]) if (!listed.has(id)) state.failureNotes.delete(id);
    fill("failures", rows, 7, t("failures.empty"));
    if (focusedId) {
      const input = [...$("failures").querySelectorAll("tr")]
        .find((tr) => tr.getAttribute("data-client-op-id") === focusedId)?.querySelector("input.note");
      if (input) {
        input.focus();
        input.setSelectionRange(caret[0], caret[1]);
      }
    }
  }

  /** A failure's resolution, or the note and buttons to resolve it. */
  function resolutionCell(f) {
    const r = f.resolution;
    if (r) {
      const template = r.action === "accept"
        ? (r.note ? t("failures.accepted_note") : t("failures.accepted"))
        : (r.note ? t("failures.dismissed_note") : t("failures.dismissed"));
      return el("span", { class: "resolution", "data-action": r.action },
        say(template, { who: data(staffName(r.actor_id)), when: when(r.at), note: data(r.note || "") }));
    }
    const note = el("input", { type: "text", class: "note", placeholder: t("failures.note_placeholder"), maxlength: "200" });
    note.value = state.failureNotes.get(f.client_op_id) || "";
    note.addEventListener("input", () => state.failureNotes.set(f.client_op_id, note.value));
    const buttons = [];
    if (f.type === "sale.finalize") buttons.push(resolveButton(f, "accept", t("failures.accept"), note));
    buttons.push(resolveButton(f, "dismiss", t("failures.dismiss"), note));
    return el("span", { class: "resolve" }, note, ...buttons);
  }

  function resolveButton(f, action, label, note) {
    const b = el("button", { type: "button", class: action === "accept" ? "primary small" : "small", "data-action": action }, label);
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await api("POST", `/v1/sync/failures/${encodeURIComponent(f.client_op_id)}/resolve`, { action, note: note.value.trim() });
        state.failureNotes.delete(f.client_op_id);
        showMessage(null);
        refresh();
      } catch (e) {
        showMessage(e);
      } finally {
        b.disabled = false;
      }
    });
    return b;
  }

  // ---------------------------------------------------------------- sales and their details

  /**
   * Fetches the details (lines, tender) of these sales, DETAILS_AT_ONCE at a time, once
   * each (again when a sale was voided since); the sales list is drawn again as they come.
   */
  function wantDetails(sales) {
    for (const s of sales) {
      const d = state.saleDetails.get(s.sale_id);
      const stale = !d || (!!s.voided && !d.void);
      if (stale && !state.detailWanted.has(s.sale_id)) {
        state.detailWanted.add(s.sale_id);
        state.detailQueue.push(s.sale_id);
      }
    }
    pumpDetails();
  }

  function pumpDetails() {
    while (state.detailActive < DETAILS_AT_ONCE && state.detailQueue.length) {
      const id = state.detailQueue.shift();
      state.detailActive += 1;
      api("GET", `/v1/sales/${encodeURIComponent(id)}`)
        .then((d) => {
          state.saleDetails.set(id, d);
          redrawSalesSoon();
        })
        .catch(() => {}) // tried again at the next refresh
        .finally(() => {
          state.detailActive -= 1;
          state.detailWanted.delete(id);
          pumpDetails();
        });
    }
  }

  function redrawSalesSoon() {
    if (state.salesRedraw) return;
    state.salesRedraw = setTimeout(() => {
      state.salesRedraw = null;
      if (state.last.sales) renderSales(state.last.sales);
    }, 60);
  }

  /** "2× Latte, 1× Croissant": the names as data. */
  function itemsOf(d) {
    if (!d) return [el("span", { class: "muted" }, "…")];
    const out = [];
    (d.lines || []).forEach((l, i) => {
      if (i > 0) out.push(", ");
      out.push(`${l.qty}× `, l.name ? data(l.name, "item-name") : t("sales.item_unnamed"));
    });
    return out;
  }

  /** How a sale was paid: the cash tendered in $ and/or ៛. */
  function paidOf(d) {
    if (!d) return { text: "…", currencies: "" };
    const tender = d.tender || {};
    const parts = [];
    const currencies = [];
    if (tender.cash_usd_cents) {
      parts.push(money(tender.cash_usd_cents));
      currencies.push("usd");
    }
    if (tender.cash_khr) {
      parts.push(riel(tender.cash_khr));
      currencies.push("khr");
    }
    return { text: parts.length ? parts.join(" + ") : money(0), currencies: currencies.join(" ") };
  }

  function renderSales(page) {
    state.last.sales = page;
    const sales = page.sales || [];
    wantDetails(sales);
    const rows = sales.map((s) => {
      const d = state.saleDetails.get(s.sale_id);
      const paid = paidOf(d);
      return el(
        "tr",
        { "data-sale-id": s.sale_id },
        el("td", { class: "mono", translate: "no" }, s.receipt_no),
        el("td", { class: "items" }, ...itemsOf(d)),
        el("td", { class: "num" }, money(s.total_cents)),
        el("td", { class: "num paid", "data-currencies": paid.currencies }, paid.text),
        el(
          "td",
          { class: `num ${s.price_drift_cents ? "neg" : ""}`.trim() },
          s.price_drift_cents ? signedMoney(s.price_drift_cents) : money(0),
        ),
        el("td", { class: "cashier", translate: "no" }, staffName(s.actor_id)),
        el("td", { translate: "no" }, deviceName(s.device_id)),
        el("td", { title: s.applied_at ? t("sales.applied_title", { time: s.applied_at }) : "" }, when(s.occurred_at)),
        el("td", {}, s.voided ? el("span", { class: "tag bad" }, t("sales.void_tag")) : detailButton(s)),
      );
    });
    fill("sales", rows, 9, t("sales.empty"));
    $("sales-more").hidden = !page.next_cursor || state.salesShown >= REPORT_ROWS_MAX;
  }

  // ---------------------------------------------------------------- the branch's day

  const currentBranch = () => state.branches.find((b) => b.id === state.branchId) || null;
  const branchZone = () => (currentBranch() && currentBranch().timezone) || DEFAULT_ZONE;

  /** "YYYY-MM-DD" of the instant `date` in `zone`. */
  function dateIn(zone, date) {
    let fmt;
    try {
      fmt = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" });
    } catch (_) {
      fmt = new Intl.DateTimeFormat("en-CA", { timeZone: DEFAULT_ZONE, year: "numeric", month: "2-digit", day: "2-digit" });
    }
    const parts = fmt.formatToParts(date);
    const part = (k) => parts.find((p) => p.type === k).value;
    return `${part("year")}-${part("month")}-${part("day")}`;
  }

  /** Minutes `zone` is ahead of UTC at the instant `ms`. */
  function zoneOffsetMinutes(zone, ms) {
    const opts = { timeZone: zone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
                   hour: "numeric", minute: "numeric", second: "numeric" };
    const parts = new Intl.DateTimeFormat("en-US", opts).formatToParts(new Date(ms));
    const n = (k) => Number(parts.find((p) => p.type === k).value);
    const local = Date.UTC(n("year"), n("month") - 1, n("day"), n("hour"), n("minute"), n("second"));
    return Math.round((local - Math.floor(ms / 1000) * 1000) / 60000);
  }

  /** The first instant of the local day `ymd` in `zone`, in ms. */
  function startOfDay(zone, ymd) {
    const [y, m, d] = ymd.split("-").map(Number);
    const midnightUtc = Date.UTC(y, m - 1, d);
    const first = midnightUtc - zoneOffsetMinutes(zone, midnightUtc) * 60000;
    return midnightUtc - zoneOffsetMinutes(zone, first) * 60000;
  }

  /** `[from, to)` of the local day `ymd` in `zone`, as RFC 3339 (what the server's day is). */
  function dayBounds(zone, ymd) {
    const [y, m, d] = ymd.split("-").map(Number);
    const next = new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
    return [new Date(startOfDay(zone, ymd)).toISOString(), new Date(startOfDay(zone, next)).toISOString()];
  }

  /** The day picked, or today in the branch's time zone. */
  function reportDate() {
    return state.reportDate || dateIn(branchZone(), new Date());
  }

  /** The day's sales, newest first: `salesShown` of them. */
  function loadDaySales(branchId) {
    const [from, to] = dayBounds(branchZone(), reportDate());
    const q = new URLSearchParams({ branch_id: branchId, from, to, limit: String(state.salesShown) });
    return api("GET", `/v1/sales?${q}`);
  }

  /** The report shown: the day's, or the Z report of a session. */
  function loadReport(branchId) {
    if (state.reportZ) return api("GET", `/v1/reports/z?cash_session_id=${encodeURIComponent(state.reportZ.sessionId)}`);
    const q = new URLSearchParams({ branch_id: branchId, date: reportDate() });
    return api("GET", `/v1/reports/daily?${q}`);
  }

  /** The drawer's flows, in the report's order, with their words. */
  function flows() {
    return [
      ["float", t("flow.float")], ["tendered", t("flow.tendered")], ["change", t("flow.change")],
      ["paid_in", t("flow.paid_in")], ["paid_out", t("flow.paid_out")], ["adjustments", t("flow.adjustments")],
      ["refunds", t("flow.refunds")], ["expected", t("flow.expected")], ["counted", t("flow.counted")],
      ["variance", t("flow.variance")],
    ];
  }

  function renderReport(r) {
    state.last.report = r;
    const branch = currentBranch();
    const z = state.reportZ;
    const title = $("report-title");
    title.dataset.kind = z ? "z" : "daily";
    title.replaceChildren(z
      ? say(t("report.title_z"), { device: data(deviceName(z.deviceId)), opened: when(z.openedAt) })
      : t("report.title_day", { date: reportDate() }));
    $("report-back").hidden = !z;
    $("report-date").value = reportDate();
    $("report-print-head").replaceChildren(branch
      ? say(t("report.print_head"), {
        branch: data(branch.name),
        address: data(branch.address ? ` · ${branch.address}` : ""),
        zone: data(branch.timezone || DEFAULT_ZONE),
        printed: stamp(new Date(), { dateStyle: "medium", timeStyle: "short" }),
      })
      : "");
    const kpi = (field, text) => {
      $("report-kpis").querySelector(`[data-field="${field}"]`).textContent = text;
    };
    kpi("sales_count", String(r.sales_count));
    kpi("gross_cents", money(r.gross_cents));
    kpi("vat_cents", money(r.vat_cents));
    kpi("net_cents", money(r.net_cents));
    kpi("voids", r.voids.count ? `${r.voids.count} · ${money(r.voids.total_cents)}` : "0");
    const items = (r.by_item || []).map((i) =>
      el("tr", { "data-menu-item-id": i.menu_item_id },
         el("td", {}, i.name ? data(i.name) : say(t("report.off_menu"), { id: data(short(i.menu_item_id), "mono") })),
         el("td", { class: "num" }, String(i.qty)), el("td", { class: "num" }, money(i.total_cents))),
    );
    fill("report-items", items, 3, t("report.nothing_sold"));
    const signed = (f) => f === "variance";
    const cash = flows().map(([flow, label]) =>
      el("tr", { "data-flow": flow, class: flow === "expected" || flow === "variance" ? "strong" : "" },
         el("td", {}, label),
         el("td", { class: `num usd ${signed(flow) ? varianceClass(r.cash.usd[flow]) : ""}`.trim() },
            (signed(flow) ? signedMoney : money)(r.cash.usd[flow])),
         el("td", { class: `num khr ${signed(flow) ? varianceClass(r.cash.khr[flow]) : ""}`.trim() },
            (signed(flow) ? signedRiel : riel)(r.cash.khr[flow]))),
    );
    $("report-cash").replaceChildren(...cash);
    const total = $("report-variance-total");
    total.textContent = signedMoney(r.variance_total_cents);
    total.className = `num ${varianceClass(r.variance_total_cents)}`.trim();
    if (!z) {
      $("sales-count").textContent = String(r.sales_count);
      $("sales-total").textContent = money(r.gross_cents);
    }
  }

  function showZ(c) {
    state.reportZ = { sessionId: c.id, deviceId: c.device_id, openedAt: c.opened_at };
    refresh();
    $("report-card").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  function onReportDate() {
    const value = $("report-date").value;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return;
    state.reportDate = value === dateIn(branchZone(), new Date()) ? null : value;
    state.reportZ = null;
    state.salesShown = SALES_PAGE;
    refresh();
  }

  /** The day's sales as a CSV file, fetched with the token (a plain link could not send it). */
  async function downloadCsv() {
    if (!state.branchId) return;
    const [from, to] = dayBounds(branchZone(), reportDate());
    const q = new URLSearchParams({ branch_id: state.branchId, from, to, format: "csv" });
    try {
      const resp = await fetch(`/v1/sales?${q}`, { headers: { Authorization: `Bearer ${state.token}` } });
      if (!resp.ok) {
        const json = await resp.json().catch(() => null);
        throw new ApiError(resp.status, json && json.code, (json && json.detail) || `${resp.status} ${resp.statusText}`);
      }
      const link = el("a", { href: URL.createObjectURL(await resp.blob()), download: `sales-${reportDate()}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    } catch (e) {
      showMessage(e);
    }
  }

  /** Shifts, newest first: who, from when to when, and how long. */
  function renderAttendance(shifts) {
    state.last.shifts = shifts;
    const rows = shifts.map((sh) => {
      const end = sh.ended_at ? new Date(sh.ended_at).getTime() : Date.now();
      const hours = Math.max(0, end - new Date(sh.started_at).getTime()) / 3600000;
      return el(
        "tr",
        { "data-shift-id": sh.shift_id, "data-status": sh.status },
        el("td", { translate: "no" }, staffName(sh.staff_id)),
        el("td", {}, when(sh.started_at)),
        el("td", {}, sh.ended_at ? when(sh.ended_at) : el("span", { class: "tag ok" }, t("attendance.working"))),
        el("td", { class: "num" }, hours.toFixed(1)),
      );
    });
    fill("attendance", rows, 4, t("attendance.empty"));
  }

  function varianceClass(v) {
    return v === null || v === undefined ? "" : v < 0 ? "neg" : v > 0 ? "pos" : "";
  }

  /** Opens a sale's detail (lines, tender, change) with the form to void it. */
  function detailButton(s) {
    const b = el("button", { type: "button", class: "small", "data-sale-id": s.sale_id }, t("sales.details"));
    b.addEventListener("click", () => showSale(s.sale_id));
    return b;
  }

  async function showSale(saleId) {
    try {
      const d = await api("GET", `/v1/sales/${encodeURIComponent(saleId)}`);
      state.saleDetails.set(saleId, d);
      drawSale(d);
    } catch (e) {
      showMessage(e);
    }
  }

  function drawSale(d) {
    const box = $("sale-detail");
    const typed = $("void-reason") ? $("void-reason").value : "";
    state.saleShown = d;
    const lines = d.lines.map((l) => el("li", {}, say(t("sale.line"), {
      qty: String(l.qty),
      name: l.name ? data(l.name) : t("sales.item_unnamed"),
      price: money(l.unit_price_cents),
      total: money(l.line_total_cents),
    })));
    const tender = d.tender || {};
    const head = say(d.voided || d.void ? t("sale.title_void") : t("sale.title"), {
      receipt: data(d.receipt_no, "mono"),
      total: money(d.total_cents),
    });
    const parts = [
      el("h3", {}, head),
      el("ul", {}, ...lines),
      el("p", { class: "muted" }, say(t("sale.paid_line"), {
        cashier: data(staffName(d.actor_id)),
        time: when(d.occurred_at),
        usd: money(tender.cash_usd_cents || 0),
        khr: riel(tender.cash_khr || 0),
      })),
    ];
    if (d.void) {
      parts.push(el("p", { id: "sale-void-info" }, say(t("sale.voided_by"), {
        who: data(staffName(d.void.actor_id)),
        when: when(d.void.at),
        reason: data(d.void.reason),
      })));
    } else {
      parts.push(voidForm(d));
    }
    box.replaceChildren(...parts);
    box.hidden = false;
    if (typed && $("void-reason")) $("void-reason").value = typed;
  }

  /** The void: a reason and the drawer the refund (the sale's total, in dollars) leaves. */
  function voidForm(d) {
    const open = state.openSessions || [];
    if (!open.length) return el("p", { class: "muted" }, t("void.needs_drawer"));
    const reason = el("input", { type: "text", id: "void-reason", placeholder: t("void.reason_placeholder"), maxlength: "200" });
    const session = el("select", { id: "void-session" },
      ...open.map((c) => el("option", { value: c.id, translate: "no" }, t("void.drawer_of", { device: deviceName(c.device_id) }))));
    const go = el("button", { type: "button", id: "void-confirm", class: "danger" }, t("void.confirm", { amount: money(d.total_cents) }));
    go.addEventListener("click", async () => {
      if (!reason.value.trim()) return showMessage(localError("void.reason_needed"));
      go.disabled = true;
      try {
        const body = {
          tenant_id: state.tenantId, branch_id: state.branchId, actor_id: state.staffId, occurred_at: new Date().toISOString(),
          payload: { cash_session_id: session.value, reason: reason.value.trim(), refund: { usd_cents: d.total_cents, khr: 0 } },
        };
        await apiKeyed("POST", `/v1/sales/${encodeURIComponent(d.sale_id)}/void`, body);
        showMessage(null);
        reason.value = "";
        await showSale(d.sale_id);
        refresh();
      } catch (e) {
        showMessage(e);
      } finally {
        go.disabled = false;
      }
    });
    return el("div", { class: "void-form" }, reason, session, go);
  }

  /** [`api`] with a fresh Idempotency-Key (the direct lane needs one). */
  async function apiKeyed(method, path, body) {
    const headers = { Accept: "application/json", "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    let resp;
    try {
      resp = await fetch(path, { method, headers, body: JSON.stringify(body) });
    } catch (_) {
      throw localError("msg.network");
    }
    const json = await resp.json().catch(() => null);
    if (!resp.ok) throw new ApiError(resp.status, json && json.code, (json && json.detail) || `${resp.status}`);
    return json;
  }

  function zButton(c) {
    const b = el("button", { type: "button", class: "small", "data-z": c.id }, t("sessions.z_report"));
    b.addEventListener("click", () => showZ(c));
    return b;
  }

  function renderCashSessions(sessions) {
    state.last.sessions = sessions;
    state.openSessions = sessions.filter((c) => c.status === "open");
    const rows = sessions.map((c) => {
      const total = c.variance_total_cents;
      return el(
        "tr",
        { "data-session-id": c.id, "data-status": c.status },
        el("td", { translate: "no" }, deviceName(c.device_id)),
        el("td", { translate: "no" }, staffName(c.opened_by)),
        el("td", {}, el("span", { class: c.status === "open" ? "tag ok" : "tag" },
          c.status === "open" ? t("sessions.open") : c.status === "closed" ? t("sessions.closed") : data(c.status))),
        el("td", {}, when(c.opened_at)),
        twoCurrencies(c.opening_float_cents, c.opening_float_khr),
        twoCurrencies(c.expected_cash_cents, c.expected_khr),
        twoCurrencies(c.counted_cash_cents, c.counted_khr),
        twoCurrencies(c.variance_cents, c.variance_khr, true, varianceClass(c.variance_cents || c.variance_khr)),
        el("td", { class: `num ${varianceClass(total)}`.trim(), "data-field": "variance-total" }, signedMoney(total)),
        el("td", {}, c.closed_at ? when(c.closed_at) : "–"),
        el("td", {}, zButton(c)),
      );
    });
    fill("cash-sessions", rows, 11, t("sessions.empty"));
  }

  function resetAudit() {
    state.audit = { branchId: state.branchId, since: null, events: [], seen: new Set() };
  }

  /** Fetches audit events since the last one seen (from the branch's midnight on the first call). */
  async function loadAudit(branchId) {
    if (state.audit.branchId !== branchId) resetAudit();
    const a = state.audit;
    if (!a.since) {
      const zone = branchZone();
      a.since = new Date(startOfDay(zone, dateIn(zone, new Date()))).toISOString();
    }
    for (let page = 0; page < 20; page++) {
      const q = `/v1/audit?branch_id=${encodeURIComponent(branchId)}&since=${encodeURIComponent(a.since)}`;
      const answer = await api("GET", q);
      if (state.audit !== a) return; // the branch changed meanwhile
      const events = answer.events || [];
      for (const e of events) {
        const key = JSON.stringify([e.client_op_id, e.module, e.action, e.applied_at, e.details]);
        if (a.seen.has(key)) continue;
        a.seen.add(key);
        a.events.push(e);
      }
      if (events.length) a.since = events[events.length - 1].applied_at;
      if (events.length < REPORT_ROWS_MAX) break;
    }
    if (a.events.length > AUDIT_SHOWN_MAX) a.events.splice(0, a.events.length - AUDIT_SHOWN_MAX);
  }

  /** Dollars and riel together: "$2.00 + ៛1,800", one of them alone when the other is 0. */
  function both(cents, khr) {
    const parts = [];
    if (cents) parts.push(money(cents));
    if (khr) parts.push(riel(khr));
    return parts.length ? parts.join(" + ") : money(0);
  }

  /** What an audit event says, as a sentence for a manager (no ids, amounts in $ and ៛;
   *  names, receipt numbers and notes as data). */
  function describeEvent(e) {
    const d = e.details || {};
    const receipt = data(d.receipt_no ?? "", "mono");
    switch (`${e.module}.${e.action}`) {
      case "sale.finalize": {
        const flags = [];
        if (d.price_drift_cents) flags.push(t("audit.flag_drift", { amount: signedMoney(d.price_drift_cents) }));
        if (d.over_cap) flags.push(t("audit.flag_over_cap"));
        if ((d.negative_stock || []).length) flags.push(t("audit.flag_negative_stock"));
        if ((d.items_not_on_menu || []).length) flags.push(t("audit.flag_off_menu"));
        return flags.length
          ? say(t("audit.sale_flagged"), { receipt, total: money(d.total_cents), flags: flags.join(t("audit.flag_separator")) })
          : say(t("audit.sale"), { receipt, total: money(d.total_cents) });
      }
      case "sale.void":
        return say(d.reason ? t("audit.void") : t("audit.void_no_reason"), {
          receipt,
          total: money(d.total_cents),
          reason: data(d.reason || ""),
          refund: both(d.refund && d.refund.usd_cents, d.refund && d.refund.khr),
        });
      case "cashSession.open":
        return say(d.over_cap ? t("audit.drawer_open_over_cap") : t("audit.drawer_open"), {
          amount: both(d.opening_float_cents, d.opening_float_khr),
        });
      case "cashSession.movement": {
        const kinds = { paid_in: t("audit.paid_in"), paid_out: t("audit.paid_out"), adjustment: t("audit.adjustment") };
        return say(d.reason ? t("audit.movement_reason") : t("audit.movement"), {
          kind: kinds[d.kind] || t("audit.movement_other"),
          amount: both(d.amount_cents, d.amount_khr),
          reason: data(d.reason || ""),
        });
      }
      case "cashSession.close":
        return say(t("audit.drawer_close"), {
          counted: both(d.counted_cash_cents, d.counted_khr),
          expected: both(d.expected_cash_cents, d.expected_khr),
          variance: signedMoney(d.variance_total_cents),
        });
      case "attendance.startWork":
        return say(t("audit.start_work"), { who: data(staffName(d.staff_id)) });
      case "attendance.endWork":
        return say(t("audit.end_work"), { who: data(staffName(d.staff_id)) });
      case "branch.freeze":
        return el("span", {}, t("audit.freeze"));
      case "branch.unfreeze":
        return el("span", {}, t("audit.unfreeze"));
      case "branch.update":
        return el("span", {}, t("audit.branch_update"));
      case "sync.resolve.accept":
        return say(d.note ? t("audit.accept_note") : t("audit.accept"), { note: data(d.note || "") });
      case "sync.resolve.dismiss":
        return say(d.note ? t("audit.dismiss_note") : t("audit.dismiss"), { note: data(d.note || "") });
      default: {
        // Unknown events: their plain fields, ids left out, as data.
        const plain = Object.entries(d)
          .filter(([k, v]) => !k.endsWith("_id") && (typeof v === "string" || typeof v === "number" || typeof v === "boolean"))
          .map(([k, v]) => `${k.replace(/_/g, " ")}: ${k.endsWith("_cents") ? money(v) : k.endsWith("_khr") ? riel(v) : v}`);
        return data(plain.join(", "));
      }
    }
  }

  function renderAudit() {
    const events = state.audit.events.slice().reverse();
    const rows = events.map((e) => {
      const raw = e.details === null || e.details === undefined ? "" : JSON.stringify(e.details);
      return el(
        "tr",
        { "data-client-op-id": e.client_op_id || "", "data-event": `${e.module}.${e.action}` },
        el("td", { title: t("audit.occurred_title", { time: e.occurred_at }) }, when(e.applied_at)),
        el("td", { class: "details", title: raw }, describeEvent(e)),
        el("td", { translate: "no" }, staffName(e.actor_id)),
        el("td", { translate: "no" }, deviceName(e.device_id)),
        el("td", {}, e.lane === "offline" ? t("audit.lane_offline") : e.lane === "online" ? t("audit.lane_online") : ""),
      );
    });
    fill("audit", rows, 5, t("audit.empty"));
  }

  // ---------------------------------------------------------------- refresh loop

  async function refresh() {
    if (!state.token) return;
    if (state.refreshing) {
      state.refreshAgain = true;
      return;
    }
    state.refreshing = true;
    try {
      do {
        state.refreshAgain = false;
        await refreshOnce();
      } while (state.refreshAgain && state.token);
    } finally {
      state.refreshing = false;
    }
  }

  async function refreshOnce() {
    let firstError = null;
    const note = (e) => {
      if (e && e.status === 401) throw e;
      if (!firstError) firstError = e;
    };
    try {
      const branches = await api("GET", "/v1/branches");
      renderBranches(branches.branches || []);
      const b = state.branchId;
      if (!b) {
        showMessage(localError("msg.no_branch"));
        setLive(state.sseLive ? "live" : "polling");
        return;
      }
      const q = `?branch_id=${encodeURIComponent(b)}`;
      if (state.staff.size === 0 || state.ticks % 20 === 0) {
        api("GET", "/v1/staff")
          .then((s) => {
            const staff = new Map((s.staff || []).map((m) => [m.id, m.name]));
            const changed = JSON.stringify([...staff]) !== JSON.stringify([...state.staff]);
            state.staff = staff;
            if (changed) redraw(); // names in place of ids
          })
          .catch(() => {});
      }
      state.ticks += 1;
      const [devices, failures, sales, sessions, audit, report, shifts] = await Promise.allSettled([
        api("GET", `/v1/sync/devices${q}`),
        api("GET", `/v1/sync/failures${q}`),
        loadDaySales(b),
        api("GET", `/v1/cash-sessions${q}`),
        loadAudit(b),
        loadReport(b),
        api("GET", `/v1/attendance${q}`),
      ]);
      if (state.branchId !== b) return; // switched meanwhile; the next refresh shows the new one
      if (devices.status === "fulfilled") renderDevices(devices.value.devices || []);
      else note(devices.reason);
      if (failures.status === "fulfilled") renderFailures(failures.value.failures || []);
      else note(failures.reason);
      if (sales.status === "fulfilled") renderSales(sales.value);
      else note(sales.reason);
      if (report.status === "fulfilled") renderReport(report.value);
      else note(report.reason);
      if (shifts.status === "fulfilled") renderAttendance(shifts.value.shifts || []);
      else note(shifts.reason);
      if (sessions.status === "fulfilled") renderCashSessions(sessions.value.cash_sessions || []);
      else note(sessions.reason);
      if (audit.status === "fulfilled") renderAudit();
      else note(audit.reason);
      showMessage(firstError);
      if (firstError && firstError.network) setLive("offline");
      else setLive(state.sseLive ? "live" : "polling");
      if (!firstError) {
        state.lastRefreshAt = new Date();
        $("last-refresh").textContent = when(state.lastRefreshAt);
      }
    } catch (e) {
      if (e.status === 401) return sessionEnded();
      showMessage(e);
      setLive(e.network ? "offline" : state.sseLive ? "live" : "polling");
    }
  }

  function scheduleRefresh() {
    clearTimeout(state.nudgeTimer);
    state.nudgeTimer = setTimeout(refresh, 150);
  }

  function startLoops() {
    stopLoops();
    const tick = async () => {
      await refresh();
      if (state.token) state.timer = setTimeout(tick, REFRESH_MS);
    };
    state.timer = setTimeout(tick, REFRESH_MS);
    startEvents();
  }

  function stopLoops() {
    clearTimeout(state.timer);
    clearTimeout(state.nudgeTimer);
    state.timer = null;
    if (state.sse) state.sse.abort();
    state.sse = null;
    state.sseLive = false;
  }

  /**
   * Listens to GET /v1/sync/events (SSE) with the bearer token through a streaming fetch
   * (EventSource cannot send headers); each `nudge` triggers a refresh. Polling carries on
   * regardless, so a lost stream only makes updates a little slower.
   */
  function startEvents() {
    if (state.sse) state.sse.abort();
    state.sseLive = false;
    const branchId = state.branchId;
    if (!branchId || !state.token || !window.ReadableStream || !window.TextDecoder) return;
    const ctl = new AbortController();
    state.sse = ctl;
    (async () => {
      while (!ctl.signal.aborted) {
        try {
          const resp = await fetch(`/v1/sync/events?branch_id=${encodeURIComponent(branchId)}`, {
            headers: { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" },
            signal: ctl.signal,
          });
          if (!resp.ok || !resp.body) throw new Error(`events: ${resp.status}`);
          state.sseLive = true;
          const reader = resp.body.getReader();
          const decoder = new TextDecoder();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
            let cut;
            while ((cut = buffer.indexOf("\n\n")) >= 0) {
              const block = buffer.slice(0, cut);
              buffer = buffer.slice(cut + 2);
              if (/^event:\s*nudge\s*$/m.test(block)) scheduleRefresh();
            }
          }
        } catch (_) {
          // aborted, network down, or too many subscribers: fall back to polling, retry later
        }
        state.sseLive = false;
        if (ctl.signal.aborted) return;
        await new Promise((r) => setTimeout(r, SSE_RETRY_MS));
      }
    })();
  }

  // ---------------------------------------------------------------- language

  /** Draws again, in the chosen language, everything this script wrote (from the data
   *  already loaded; nothing is fetched). */
  function redraw() {
    showLoginError(state.loginError);
    if (!state.token) return;
    drawWho();
    setLive(state.live);
    $("last-refresh").textContent = state.lastRefreshAt ? when(state.lastRefreshAt) : "–";
    state.branchesKey = "";
    renderBranches(state.branches);
    const l = state.last;
    if (l.devices) renderDevices(l.devices);
    if (l.failures) renderFailures(l.failures);
    if (l.sales) renderSales(l.sales);
    if (l.report) renderReport(l.report);
    if (l.shifts) renderAttendance(l.shifts);
    if (l.sessions) renderCashSessions(l.sessions);
    renderAudit();
    showMessage(state.message);
    if (state.saleShown && !$("sale-detail").hidden) drawSale(state.saleShown);
    if (state.confirmDraw && !$("confirm").hidden) state.confirmDraw();
  }

  // ---------------------------------------------------------------- start

  function init() {
    window.I18n.apply(document);
    window.I18n.switcher($("lang-switch"));
    document.addEventListener("modula:lang", redraw);
    const params = new URLSearchParams(window.location.search);
    $("login-shop").value = params.get("shop") || localStorage.getItem(SHOP_KEY) || "";
    if (params.get("login")) $("login-name").value = params.get("login");
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", () => signOut(null));
    $("freeze").addEventListener("click", () => setStatus("freeze"));
    $("unfreeze").addEventListener("click", () => setStatus("unfreeze"));
    $("branch-select").addEventListener("change", onBranchChange);
    $("report-date").addEventListener("change", onReportDate);
    $("report-back").addEventListener("click", () => {
      state.reportZ = null;
      refresh();
    });
    $("report-print").addEventListener("click", () => window.print());
    $("report-csv").addEventListener("click", downloadCsv);
    $("sales-more").addEventListener("click", () => {
      state.salesShown = Math.min(REPORT_ROWS_MAX, state.salesShown + SALES_PAGE);
      refresh();
    });
    if (state.token) enter();
    else showLogin(null);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
