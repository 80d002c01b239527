// Modula manager dashboard: vanilla JS, no build step. Element ids are documented at the
// top of index.html. Reads the JSON API with a staff token kept in sessionStorage.
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
  const DEFAULT_ZONE = "Asia/Phnom_Penh";

  const $ = (id) => document.getElementById(id);

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
    reportZ: null, // {sessionId, label}: the Z report shown instead of the day's
    salesShown: SALES_PAGE, // rows of the day's sales listed (More adds a page)
  };

  // ---------------------------------------------------------------- formatting

  /** Cents as "$1,234.56" (negative: "-$1.23"). */
  function money(cents) {
    if (cents === null || cents === undefined) return "–";
    const n = Number(cents);
    const abs = Math.abs(n);
    const dollars = Math.floor(abs / 100).toLocaleString("en-US");
    const rest = String(abs % 100).padStart(2, "0");
    return `${n < 0 ? "-" : ""}$${dollars}.${rest}`;
  }

  /** A difference: "+$0.50", "-$0.50", "$0.00". */
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

  function signedMoney(cents) {
    if (cents === null || cents === undefined) return "–";
    return cents > 0 ? `+${money(cents)}` : money(cents);
  }

  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  }

  const pad = (n) => String(n).padStart(2, "0");

  /** Local time: "14:03:12" today, else "2024-05-01 14:03". */
  function when(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    if (sameDay(d, new Date())) return time;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time.slice(0, 5)}`;
  }

  function ago(iso) {
    if (!iso) return "never";
    const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return when(iso);
  }

  function gaps(list) {
    if (!list || list.length === 0) return "none";
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

  function fill(tbodyId, rows, columns, emptyText) {
    const body = $(tbodyId);
    if (rows.length === 0) {
      body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: columns }, emptyText)));
    } else {
      body.replaceChildren(...rows);
    }
  }

  function showMessage(err) {
    const m = $("message");
    if (!err) {
      m.textContent = "";
      m.removeAttribute("data-code");
      return;
    }
    m.textContent = err.code ? `${err.message} (${err.code})` : err.message;
    if (err.code) m.dataset.code = err.code;
    else m.removeAttribute("data-code");
  }

  function setLive(kind) {
    const live = $("live");
    live.dataset.state = kind;
    live.textContent = kind;
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, code, detail) {
      super(detail);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let resp;
    try {
      resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      const err = new ApiError(0, null, "Cannot reach the server; retrying…");
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

  function showLogin(error) {
    stopLoops();
    $("dashboard-view").hidden = true;
    $("session-bar").hidden = true;
    $("login-view").hidden = false;
    $("login-error").textContent = error || "";
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

  async function login(event) {
    event.preventDefault();
    const tenant = $("login-shop").value.trim().toLowerCase();
    const login = $("login-name").value.trim();
    const password = $("login-password").value;
    const error = $("login-error");
    error.textContent = "";
    if (!tenant || !login || !password) {
      error.textContent = "Enter your shop, your login and your password.";
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
      error.textContent = e.code ? `${e.message} (${e.code})` : e.message;
    } finally {
      $("login-submit").disabled = false;
      $("login-password").value = "";
    }
  }

  async function enter() {
    $("login-view").hidden = true;
    $("dashboard-view").hidden = false;
    $("session-bar").hidden = false;
    $("who").textContent = state.role ? `Signed in as ${state.role}` : "Signed in";
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
    const key = JSON.stringify(branches.map((b) => [b.id, b.name, b.status]));
    if (key !== state.branchesKey) {
      state.branchesKey = key;
      const select = $("branch-select");
      select.replaceChildren(
        ...branches.map((b) =>
          el("option", { value: b.id }, b.status === "frozen" ? `${b.name} (frozen)` : b.name),
        ),
      );
      if (state.branchId) select.value = state.branchId;
    }
    const branch = branches.find((b) => b.id === state.branchId);
    const status = $("branch-status");
    status.textContent = branch ? branch.status : "no branch";
    status.dataset.status = branch ? branch.status : "";
    $("branch-address").textContent = branch && branch.address ? branch.address : "";
    $("branch-tz").textContent = branch ? branch.timezone || DEFAULT_ZONE : "";
    $("freeze").disabled = !branch || branch.status === "frozen";
    $("unfreeze").disabled = !branch || branch.status !== "frozen";
  }

  /** An in-page confirmation: resolves true when the manager confirms. */
  function confirmInPage(text, yesLabel) {
    return new Promise((resolve) => {
      const box = $("confirm");
      $("confirm-text").textContent = text;
      $("confirm-yes").textContent = yesLabel;
      box.hidden = false;
      const done = (answer) => {
        box.hidden = true;
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
      const ok = await confirmInPage(
        `Freeze ${branch ? branch.name : "this branch"}? Its tills keep selling offline, but the server refuses their queued sales until you unfreeze it.`,
        "Freeze the branch",
      );
      if (!ok) return;
    }
    const button = $(action);
    button.disabled = true;
    try {
      await api("POST", `/v1/branches/${state.branchId}/${action}`, {});
      showMessage(null);
    } catch (e) {
      if (e.status === 401) return signOut("Your session ended; sign in again.");
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
    resetAudit();
    startEvents();
    refresh();
  }

  // ---------------------------------------------------------------- reports

  /** A device quiet for longer than this while another of its branch was heard is flagged. */
  const QUIET_FLAG_MS = 15 * 60 * 1000;

  function renderDevices(devices) {
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
        el("td", {}, d.name, d.revoked ? " " : "", d.revoked ? el("span", { class: "tag bad" }, "revoked") : ""),
        el("td", { class: "mono" }, d.code ?? "–"),
        el(
          "td",
          { title: d.last_seen_at || "" },
          ago(d.last_seen_at),
          quiet(d)
            ? el("span", { class: "tag warn quiet" }, seen(d) === null
              ? " silent while others sync"
              : ` silent for ${Math.round((now - seen(d)) / 60000)} min while others sync`)
            : "",
        ),
        el("td", { class: "num" }, d.last_device_seq ?? 0),
        el(
          "td",
          { "data-gaps": JSON.stringify(d.gaps || []) },
          d.gaps && d.gaps.length ? el("span", { class: "tag warn" }, gaps(d.gaps)) : "none",
        ),
      ),
    );
    fill("devices", rows, 5, "No devices enrolled in this branch.");
  }

  function renderFailures(failures) {
    const count = $("failures-count");
    const open = failures.filter((f) => !f.resolution);
    count.textContent = String(open.length);
    count.classList.toggle("has", open.length > 0);
    const rows = failures.map((f) => {
      // What a manager recognises: a sale's receipt number and amount, the cashier.
      const what = f.receipt_no ? `Sale ${f.receipt_no}${f.total_cents != null ? " · " + money(f.total_cents) : ""}` : f.type;
      return el(
        "tr",
        { "data-client-op-id": f.client_op_id, "data-resolved": f.resolution ? f.resolution.action : "" },
        el("td", { title: f.occurred_at }, when(f.occurred_at || f.recorded_at)),
        el("td", {}, deviceName(f.device_id)),
        el("td", {}, what),
        el("td", {}, f.actor_name || staffName(f.actor_id)),
        el("td", {}, el("span", { class: "tag bad", "data-code": f.code }, f.code)),
        el("td", {}, f.message),
        el("td", {}, resolutionCell(f)),
      );
    });
    fill("failures", rows, 7, "No failed operations.");
  }

  /** A failure's resolution, or the note and buttons to resolve it. */
  function resolutionCell(f) {
    const r = f.resolution;
    if (r) {
      const word = r.action === "accept" ? "Accepted" : "Dismissed";
      return el("span", { class: "resolution", "data-action": r.action }, `${word} by ${staffName(r.actor_id)} ${when(r.at)}${r.note ? " — " + r.note : ""}`);
    }
    const note = el("input", { type: "text", class: "note", placeholder: "Note (why)", maxlength: "200" });
    const buttons = [];
    if (f.type === "sale.finalize") buttons.push(resolveButton(f, "accept", "Accept", note));
    buttons.push(resolveButton(f, "dismiss", "Dismiss", note));
    return el("span", { class: "resolve" }, note, ...buttons);
  }

  function resolveButton(f, action, label, note) {
    const b = el("button", { type: "button", class: action === "accept" ? "primary small" : "small", "data-action": action }, label);
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await api("POST", `/v1/sync/failures/${encodeURIComponent(f.client_op_id)}/resolve`, { action, note: note.value.trim() });
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

  function renderSales(page) {
    const sales = page.sales || [];
    const rows = sales.map((s) =>
      el(
        "tr",
        { "data-sale-id": s.sale_id },
        el("td", { class: "mono" }, s.receipt_no),
        el("td", { class: "num" }, money(s.total_cents)),
        el(
          "td",
          { class: `num ${s.price_drift_cents ? "neg" : ""}`.trim() },
          s.price_drift_cents ? signedMoney(s.price_drift_cents) : money(0),
        ),
        el("td", {}, staffName(s.actor_id)),
        el("td", {}, deviceName(s.device_id)),
        el("td", { title: s.applied_at ? `applied ${s.applied_at}` : "" }, when(s.occurred_at)),
        el("td", {}, s.voided ? el("span", { class: "tag bad" }, "VOID") : detailButton(s)),
      ),
    );
    fill("sales", rows, 7, "No sales on this day.");
    $("sales-more").hidden = !page.next_cursor || state.salesShown >= REPORT_ROWS_MAX;
  }

  // ---------------------------------------------------------------- the branch's day

  const currentBranch = () => state.branches.find((b) => b.id === state.branchId) || null;
  const branchZone = () => (currentBranch() && currentBranch().timezone) || DEFAULT_ZONE;

  /** "YYYY-MM-DD" of the instant `date` in `zone`. */
  function dateIn(zone, date) {
    const parts = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" })
      .formatToParts(date);
    const part = (t) => parts.find((p) => p.type === t).value;
    return `${part("year")}-${part("month")}-${part("day")}`;
  }

  /** Minutes `zone` is ahead of UTC at the instant `ms`. */
  function zoneOffsetMinutes(zone, ms) {
    const opts = { timeZone: zone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric",
                   hour: "numeric", minute: "numeric", second: "numeric" };
    const parts = new Intl.DateTimeFormat("en-US", opts).formatToParts(new Date(ms));
    const n = (t) => Number(parts.find((p) => p.type === t).value);
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

  const FLOWS = [
    ["float", "Opening float"], ["tendered", "Cash taken"], ["change", "Change given"], ["paid_in", "Paid in"],
    ["paid_out", "Paid out"], ["adjustments", "Adjustments"], ["refunds", "Refunds (voids)"],
    ["expected", "Expected"], ["counted", "Counted"], ["variance", "Variance"],
  ];

  function renderReport(r) {
    const branch = currentBranch();
    const z = state.reportZ;
    const title = $("report-title");
    title.dataset.kind = z ? "z" : "daily";
    title.textContent = z ? `Z report · ${z.label}` : `Day report · ${reportDate()}`;
    $("report-back").hidden = !z;
    $("report-date").value = reportDate();
    $("report-print-head").textContent = branch
      ? `${branch.name}${branch.address ? ` · ${branch.address}` : ""} · ${branch.timezone || DEFAULT_ZONE} · printed ${new Date().toLocaleString()}`
      : "";
    const kpi = (field, text) => {
      $("report-kpis").querySelector(`[data-field="${field}"]`).textContent = text;
    };
    kpi("sales_count", String(r.sales_count));
    kpi("gross_cents", money(r.gross_cents));
    kpi("vat_cents", money(r.vat_cents));
    kpi("net_cents", money(r.net_cents));
    kpi("voids", r.voids.count ? `${r.voids.count} · ${money(r.voids.total_cents)}` : "0");
    const items = (r.by_item || []).map((i) =>
      el("tr", { "data-menu-item-id": i.menu_item_id }, el("td", {}, i.name || `(off the menu) ${short(i.menu_item_id)}`),
         el("td", { class: "num" }, String(i.qty)), el("td", { class: "num" }, money(i.total_cents))),
    );
    fill("report-items", items, 3, "Nothing sold.");
    const signed = (f) => f === "variance";
    const cash = FLOWS.map(([flow, label]) =>
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
    state.reportZ = { sessionId: c.id, label: `${deviceName(c.device_id)}, opened ${when(c.opened_at)}` };
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
    const rows = shifts.map((sh) => {
      const end = sh.ended_at ? new Date(sh.ended_at).getTime() : Date.now();
      const hours = Math.max(0, end - new Date(sh.started_at).getTime()) / 3600000;
      return el(
        "tr",
        { "data-shift-id": sh.shift_id, "data-status": sh.status },
        el("td", {}, staffName(sh.staff_id)),
        el("td", {}, when(sh.started_at)),
        el("td", {}, sh.ended_at ? when(sh.ended_at) : el("span", { class: "tag ok" }, "working")),
        el("td", { class: "num" }, hours.toFixed(1)),
      );
    });
    fill("attendance", rows, 4, "Nobody has started work yet.");
  }

  function varianceClass(v) {
    return v === null || v === undefined ? "" : v < 0 ? "neg" : v > 0 ? "pos" : "";
  }

  /** Opens a sale's detail (lines, tender, change) with the form to void it. */
  function detailButton(s) {
    const b = el("button", { type: "button", class: "small", "data-sale-id": s.sale_id }, "Details");
    b.addEventListener("click", () => showSale(s.sale_id));
    return b;
  }

  async function showSale(saleId) {
    const box = $("sale-detail");
    try {
      const d = await api("GET", `/v1/sales/${encodeURIComponent(saleId)}`);
      const lines = d.lines.map((l) => el("li", {}, `${l.qty} × ${l.name || "item"} @ ${money(l.unit_price_cents)} = ${money(l.line_total_cents)}`));
      const parts = [
        el("h3", {}, `Sale ${d.receipt_no} · ${money(d.total_cents)}${d.voided ? " · VOID" : ""}`),
        el("ul", {}, ...lines),
        el("p", { class: "muted" }, `Cashier ${staffName(d.actor_id)} · ${when(d.occurred_at)} · paid ${money(d.tender && d.tender.cash_usd_cents)} + ${riel(d.tender && d.tender.cash_khr)}`),
      ];
      if (d.void) {
        parts.push(el("p", { id: "sale-void-info" }, `Voided by ${staffName(d.void.actor_id)} ${when(d.void.at)}: ${d.void.reason}`));
      } else {
        parts.push(voidForm(d));
      }
      box.replaceChildren(...parts);
      box.hidden = false;
    } catch (e) {
      showMessage(e);
    }
  }

  /** The void: a reason and the drawer the refund (the sale's total, in dollars) leaves. */
  function voidForm(d) {
    const open = state.openSessions || [];
    if (!open.length) return el("p", { class: "muted" }, "To void it, a drawer of this branch must be open: the refund is paid out of it.");
    const reason = el("input", { type: "text", id: "void-reason", placeholder: "Why void it?", maxlength: "200" });
    const session = el("select", { id: "void-session" }, ...open.map((c) => el("option", { value: c.id }, `${deviceName(c.device_id)} drawer`)));
    const go = el("button", { type: "button", id: "void-confirm", class: "danger" }, `Void and refund ${money(d.total_cents)}`);
    go.addEventListener("click", async () => {
      if (!reason.value.trim()) return showMessage(new ApiError(0, null, "Say why the sale is voided."));
      go.disabled = true;
      try {
        const body = {
          tenant_id: state.tenantId, branch_id: state.branchId, actor_id: state.staffId, occurred_at: new Date().toISOString(),
          payload: { cash_session_id: session.value, reason: reason.value.trim(), refund: { usd_cents: d.total_cents, khr: 0 } },
        };
        await apiKeyed("POST", `/v1/sales/${encodeURIComponent(d.sale_id)}/void`, body);
        showMessage(null);
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
    const resp = await fetch(path, { method, headers, body: JSON.stringify(body) });
    const json = await resp.json().catch(() => null);
    if (!resp.ok) throw new ApiError(resp.status, json && json.code, (json && json.detail) || `${resp.status}`);
    return json;
  }

  function zButton(c) {
    const b = el("button", { type: "button", class: "small", "data-z": c.id }, "Z report");
    b.addEventListener("click", () => showZ(c));
    return b;
  }

  function renderCashSessions(sessions) {
    state.openSessions = sessions.filter((c) => c.status === "open");
    const rows = sessions.map((c) => {
      const total = c.variance_total_cents;
      return el(
        "tr",
        { "data-session-id": c.id, "data-status": c.status },
        el("td", {}, deviceName(c.device_id)),
        el("td", {}, staffName(c.opened_by)),
        el("td", {}, el("span", { class: c.status === "open" ? "tag ok" : "tag" }, c.status)),
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
    fill("cash-sessions", rows, 11, "No cash sessions.");
  }

  function resetAudit() {
    state.audit = { branchId: state.branchId, since: null, events: [], seen: new Set() };
  }

  /** Fetches audit events since the last one seen (from local midnight on the first call). */
  async function loadAudit(branchId) {
    if (state.audit.branchId !== branchId) resetAudit();
    const a = state.audit;
    if (!a.since) {
      const midnight = new Date();
      midnight.setHours(0, 0, 0, 0);
      a.since = midnight.toISOString();
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

  /** What an audit event says, as a sentence for a manager (no ids, amounts in $ and ៛). */
  function describeEvent(e) {
    const d = e.details || {};
    const kind = { paid_in: "Paid in", paid_out: "Paid out", adjustment: "Adjustment" };
    switch (`${e.module}.${e.action}`) {
      case "sale.finalize": {
        const flags = [];
        if (d.price_drift_cents) flags.push(`prices changed since the till priced it (${signedMoney(d.price_drift_cents)})`);
        if (d.over_cap) flags.push("cash over the confirmation cap");
        if ((d.negative_stock || []).length) flags.push("stock went below zero");
        if ((d.items_not_on_menu || []).length) flags.push("items no longer on the menu");
        return `Sale ${d.receipt_no ?? ""} of ${money(d.total_cents)}${flags.length ? ` — ${flags.join("; ")}` : ""}.`;
      }
      case "sale.void":
        return `Voided sale ${d.receipt_no ?? ""} (${money(d.total_cents)}): ${d.reason || "no reason"}; refunded ${both(d.refund && d.refund.usd_cents, d.refund && d.refund.khr)}.`;
      case "cashSession.open":
        return `Opened the drawer with ${both(d.opening_float_cents, d.opening_float_khr)}${d.over_cap ? " (over the float cap)" : ""}.`;
      case "cashSession.movement":
        return `${kind[d.kind] || "Cash movement"} ${both(d.amount_cents, d.amount_khr)}${d.reason ? `: ${d.reason}` : ""}.`;
      case "cashSession.close":
        return `Closed the drawer: counted ${both(d.counted_cash_cents, d.counted_khr)}, expected ${both(d.expected_cash_cents, d.expected_khr)}; variance ${signedMoney(d.variance_total_cents)} in all.`;
      case "attendance.startWork":
        return `${staffName(d.staff_id)} started work.`;
      case "attendance.endWork":
        return `${staffName(d.staff_id)} ended work.`;
      case "branch.freeze":
        return "Froze the branch: tills' queued work will be refused.";
      case "branch.unfreeze":
        return "Unfroze the branch.";
      case "branch.update":
        return "Changed the branch's name, address or time zone.";
      case "sync.resolve.accept":
        return `Accepted a refused sale into its drawer${d.note ? `: ${d.note}` : ""}.`;
      case "sync.resolve.dismiss":
        return `Dismissed a refused operation: ${d.note || ""}`;
      default: {
        // Unknown events: their plain fields, ids left out.
        const plain = Object.entries(d)
          .filter(([k, v]) => !k.endsWith("_id") && (typeof v === "string" || typeof v === "number" || typeof v === "boolean"))
          .map(([k, v]) => `${k.replace(/_/g, " ")}: ${k.endsWith("_cents") ? money(v) : k.endsWith("_khr") ? riel(v) : v}`);
        return plain.join(", ");
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
        el("td", { title: `occurred ${e.occurred_at}` }, when(e.applied_at)),
        el("td", { class: "details", title: raw }, describeEvent(e)),
        el("td", {}, staffName(e.actor_id)),
        el("td", {}, deviceName(e.device_id)),
        el("td", {}, e.lane === "offline" ? "synced from offline" : e.lane === "online" ? "online" : ""),
      );
    });
    fill("audit", rows, 5, "No audit events today.");
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
        showMessage(new ApiError(0, null, "This account is not assigned to any branch."));
        setLive(state.sseLive ? "live" : "polling");
        return;
      }
      const q = `?branch_id=${encodeURIComponent(b)}`;
      if (state.staff.size === 0 || state.ticks % 20 === 0) {
        api("GET", "/v1/staff")
          .then((s) => (state.staff = new Map((s.staff || []).map((m) => [m.id, m.name]))))
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
      if (!firstError) $("last-refresh").textContent = when(new Date().toISOString());
    } catch (e) {
      if (e.status === 401) return signOut("Your session ended; sign in again.");
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

  // ---------------------------------------------------------------- start

  function init() {
    const params = new URLSearchParams(window.location.search);
    $("login-shop").value = params.get("shop") || localStorage.getItem(SHOP_KEY) || "";
    if (params.get("login")) $("login-name").value = params.get("login");
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", () => signOut(""));
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
    else showLogin("");
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
