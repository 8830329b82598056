// The dispatchers' board (/dispatch): missed SLA deadlines, refused assignments to send on
// again with a reason, and every open assignment with its next deadline ticking. Read from the
// API; read again the moment an assignment changes (Server-Sent Events) and every 30 s for
// the escalations, which the SLA watcher raises on its own clock. Plain JavaScript.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const text = JSON.parse($("board-text").textContent);
  const { LANG, ZONE, api } = window.consolePage;
  const POLL_MS = 30000;
  const state = { offset: 0, open: [] };
  const seen = (window.callengineBoard = { loads: 0, pushes: 0 });

  const now = () => Date.now() + state.offset;
  const agency = (code) => `${code}${text.agencies[code] ? ` · ${text.agencies[code]}` : ""}`;
  const minutes = (ms) => `${Math.floor(Math.abs(ms) / 60000)}:${String(Math.floor(Math.abs(ms) / 1000) % 60).padStart(2, "0")}`;

  function cell(row, content) {
    const td = row.insertCell();
    if (content instanceof Node) td.append(content); else td.textContent = content ?? "–";
    return td;
  }

  function ticketLink(number) {
    const a = document.createElement("a");
    a.href = `/tickets/${encodeURIComponent(number)}`;
    a.textContent = number;
    return a;
  }

  function fill(id, rows, draw) {
    const body = $(id).tBodies[0];
    body.replaceChildren();
    rows.forEach((item) => draw(body.insertRow(), item));
    $(`${id}-count`).textContent = rows.length;
    document.querySelector(`.none[data-for="${id}"]`).hidden = rows.length > 0;
  }

  function drawLate(row, e) {
    row.dataset.assignment = e.assignment_id;
    cell(row, ticketLink(e.ticket_number));
    cell(row, agency(e.agency));
    cell(row, text[e.stage] || e.stage);
    cell(row, minutes(e.delay_s * 1000)).className = "late";
    const whom = (e.notified || []).map((n) => n.replace(/\s*<[^>]*>/g, ""));   // names, not their addresses
    cell(row, `${text[`level${e.level}`] || e.level}: ${whom.join(", ") || "–"}`);
  }

  function drawRefused(row, a) {
    row.dataset.assignment = a.id;
    cell(row, ticketLink(a.ticket_number));
    cell(row, agency(a.agency));
    cell(row, a.last_move ? a.last_move.actor : "–");
    cell(row, a.last_move ? a.last_move.note : "–");
    const form = document.createElement("form");
    form.className = "reopen";
    form.noValidate = true;                 // the reason is checked here, with its message
    const reason = Object.assign(document.createElement("input"), { name: "reason", maxLength: 1000,
      placeholder: text.reason, required: true });
    const send = Object.assign(document.createElement("button"), { type: "submit", className: "small",
      textContent: text.send });
    const error = Object.assign(document.createElement("span"), { className: "error" });
    form.append(reason, send, error);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!reason.value.trim()) { error.textContent = text.reason_needed; reason.focus(); return; }
      send.disabled = true;
      api("POST", `/api/v1/assignments/${a.id}/status`, { status: "diteruskan", note: reason.value.trim() })
        .then(load)
        .catch((err) => { error.textContent = err.message; send.disabled = false; });
    });
    cell(row, form);
  }

  function drawOpen(row, a) {
    row.dataset.assignment = a.id;
    row.dataset.status = a.status;
    cell(row, ticketLink(a.ticket_number));
    cell(row, agency(a.agency));
    cell(row, a.status).className = "status";
    cell(row, new Date(a.dispatched_at).toLocaleTimeString(LANG, { hour: "2-digit", minute: "2-digit", timeZone: ZONE }));
    cell(row, "").className = "clock";
  }

  function tick() {
    for (const row of $("open").tBodies[0].rows) {
      const a = state.open.find((x) => String(x.id) === row.dataset.assignment);
      if (!a) continue;
      const [label, by] = a.status === "diteruskan" ? [text.accept_by, a.accept_by] : [text.process_by, a.process_by];
      const left = Date.parse(by) - now();
      const clock = row.cells[4];
      clock.textContent = a.status === "diproses" ? "–" : `${label}: ${minutes(left)} ${left < 0 ? text.late : text.left}`;
      clock.dataset.late = String(a.status !== "diproses" && left < 0);
    }
  }

  async function load() {
    try {
      const [late, refused, open] = await Promise.all([
        api("GET", "/api/v1/escalations?open=1"), api("GET", "/api/v1/assignments?status=ditolak"),
        api("GET", "/api/v1/assignments?status=open")]);
      state.offset = Date.parse(open.now) - Date.now();
      state.open = open.assignments;
      fill("late", late.escalations, drawLate);
      fill("refused", refused.assignments, drawRefused);
      fill("open", open.assignments, drawOpen);
      tick();
      seen.loads += 1;
      $("sync").dataset.state = "ok";
      $("sync").textContent = `${text.updated} ${new Date(now()).toLocaleTimeString(LANG, { timeZone: ZONE })}`;
    } catch (err) {
      $("sync").dataset.state = "error";
      $("sync").textContent = `${text.not_updated} ${err.message}`;
    }
  }

  function listen() {
    if (!window.EventSource) return;
    const source = new EventSource("/api/v1/assignments/events");
    let pending = null;
    source.addEventListener("assignment", () => {
      seen.pushes += 1;
      if (!pending) pending = setTimeout(() => { pending = null; load(); }, 150);
    });
  }

  load();
  listen();
  setInterval(load, POLL_MS);
  setInterval(tick, 1000);
})();
