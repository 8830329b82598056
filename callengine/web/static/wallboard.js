// The wallboard (/wallboard): the floor pushed by the console (Server-Sent Events `wallboard`,
// the whole state each time), drawn into its tables; waits and states tick every second from
// their start. A supervisor pauses and unpauses a taker here (the engine does it, audited).
// ?tv=1 draws the same, large and without controls. Plain JavaScript.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const root = $("wallboard");
  const text = JSON.parse($("wallboard-text").textContent);
  const { LANG, ZONE, request } = window.consolePage;
  const acts = root.dataset.acts === "yes";
  const state = { offset: 0, board: null, map: null, layer: null };
  const seen = (window.callengineWallboard = { frames: 0 });

  const now = () => Date.now() + state.offset;
  const mmss = (ms) => { const s = Math.max(0, Math.floor(ms / 1000)); return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; };
  const pct = (x) => (x == null ? "–" : `${Math.round(x * 100)}%`);
  const secs = (x) => (x == null ? "–" : `${Math.round(x)} s`);

  function cell(row, content, cls) {
    const td = row.insertCell();
    if (content instanceof Node) td.append(content); else td.textContent = content ?? "–";
    if (cls) td.className = cls;
    return td;
  }

  function tile(label, value, before) {
    const box = document.createElement("div");
    box.className = "figure";
    box.innerHTML = "<span class=label></span><strong class=value></strong><span class=before></span>";
    box.querySelector(".label").textContent = label;
    box.querySelector(".value").textContent = value;
    box.querySelector(".before").textContent = before ? `${text.yesterday}: ${before}` : "";
    return box;
  }

  function figures(b) {
    const t = b.today, y = b.yesterday;
    $("figures").replaceChildren(
      tile(text.waiting, String(b.waiting.length)),
      tile(text.offered, String(t.offered), String(y.offered)),
      tile(text.answered, String(t.answered), String(y.answered)),
      tile(text.within15, pct(t.service_level_15s), pct(y.service_level_15s)),
      tile(text.within20, pct(t.service_level_20s), pct(y.service_level_20s)),
      tile(text.abandoned, String(t.abandoned), String(y.abandoned)),
      tile(text.asa, secs(t.average_speed_of_answer_s), secs(y.average_speed_of_answer_s)),
      tile(text.longest, secs(t.longest_wait_s), secs(y.longest_wait_s)),
      tile(text.ghost, pct(t.ghost_share), pct(y.ghost_share)),
      tile(text.prank, pct(t.prank_share), pct(y.prank_share)),
      tile(`${text.this_shift} ${b.shift.name}`, `${b.shift_figures.answered ?? 0}/${b.shift_figures.offered ?? 0}`,
           ""));
  }

  function waiting(b) {
    const body = $("waiting").tBodies[0];
    body.replaceChildren();
    for (const w of b.waiting) {
      const row = body.insertRow();
      row.dataset.linkedid = w.linkedid;
      row.dataset.prank = String(w.prank);
      cell(row, "", "tick").dataset.since = w.since;
      cell(row, w.caller || "–", "mono");
      cell(row, w.category || "–");
      cell(row, w.priority ?? "–");
      cell(row, w.prank ? text.prank_warning : "", w.prank ? "warn" : "");
    }
    $("waiting-count").textContent = b.waiting.length;
  }

  function takers(b) {
    const body = $("takers").tBodies[0];
    body.replaceChildren();
    for (const t of b.takers) {
      const row = body.insertRow();
      row.dataset.account = t.account;
      row.dataset.state = t.state;
      cell(row, t.name);
      cell(row, t.shift || "–");
      cell(row, `${text[t.state] || t.state}${t.state === "paused" && t.reason ? ` (${t.reason})` : ""}`, "state");
      const since = cell(row, "", "tick");
      if (t.since) since.dataset.since = t.since;
      cell(row, t.with || "", "mono");
      if (acts) cell(row, pauseControl(t));
    }
    $("takers-count").textContent = b.takers.length;
  }

  function pauseControl(t) {
    const box = document.createElement("span");
    box.className = "pause";
    if (t.state === "talking") {
      for (const mode of ["listen", "whisper", "barge"]) {
        const spy = Object.assign(document.createElement("button"), { type: "button", className: "small spy",
                                                                       textContent: text[mode] });
        spy.dataset.mode = mode;
        spy.addEventListener("click", () => act("/api/v1/wallboard/spy", { account: t.account, mode }, spy));
        box.append(spy);
      }
    }
    const button = Object.assign(document.createElement("button"), { type: "button", className: "small" });
    if (t.paused) {
      button.textContent = text.unpause;
      button.addEventListener("click", () => act("/api/v1/wallboard/pause", { account: t.account, paused: false }, button));
    } else {
      const reason = document.createElement("select");
      for (const r of text.reasons) reason.append(new Option(r, r));
      button.textContent = text.pause;
      button.addEventListener("click", () => act("/api/v1/wallboard/pause",
                                                 { account: t.account, paused: true, reason: reason.value }, button));
      box.append(reason);
    }
    box.append(button);
    return box;
  }

  async function act(path, body, button) {
    button.disabled = true;
    try {
      await request("POST", path, body);
      button.title = "";
    } catch (err) {
      button.title = err.message;
    } finally {
      button.disabled = false;
    }
  }

  function sla(b) {
    const body = $("sla").tBodies[0];
    body.replaceChildren();
    for (const s of b.sla) {
      const row = body.insertRow();
      row.dataset.missed = String(s.missed);
      const link = Object.assign(document.createElement("a"), { href: `/tickets/${encodeURIComponent(s.ticket_number)}`,
                                                                textContent: s.ticket_number });
      cell(row, link);
      cell(row, s.agency);
      cell(row, text[s.stage] || s.stage);
      cell(row, "", "deadline").dataset.deadline = s.deadline;
    }
    $("sla-count").textContent = b.sla.length;
    const work = $("work").tBodies[0];
    work.replaceChildren();
    for (const [agency, counts] of Object.entries(b.tickets)) {
      const row = work.insertRow();
      cell(row, agency);
      for (const status of ["diteruskan", "diterima", "diproses"]) cell(row, String(counts[status] || 0), "num");
    }
  }

  function unfinished(b) {
    const body = $("unfinished").tBodies[0];
    body.replaceChildren();
    const takers = b.takers.map((t) => t.account);
    for (const t of b.unfinished) {
      const row = body.insertRow();
      row.dataset.ticket = t.number;
      cell(row, Object.assign(document.createElement("a"), { href: `/tickets/${encodeURIComponent(t.number)}`,
                                                            textContent: t.number }));
      cell(row, t.taker);
      cell(row, "", "tick").dataset.since = t.since;
      if (!acts) continue;
      const box = Object.assign(document.createElement("span"), { className: "pause" });
      const to = document.createElement("select");
      for (const account of takers.filter((a) => a !== t.taker)) to.append(new Option(account, account));
      const reason = Object.assign(document.createElement("input"), { placeholder: text.reason, maxLength: 500,
                                                                       size: 12 });
      const button = Object.assign(document.createElement("button"), { type: "button", className: "small",
                                                                        textContent: text.hand_over });
      button.addEventListener("click", () => act(`/api/v1/tickets/${encodeURIComponent(t.number)}/reassign`,
                                                 { taker: to.value, reason: reason.value.trim() }, button));
      box.append(to, reason, button);
      cell(row, box);
    }
    $("unfinished-count").textContent = b.unfinished.length;
  }

  function alerts(b) {
    $("alerts").replaceChildren(...b.alerts.slice(0, 5).map((a) => {
      const item = document.createElement("li");
      item.dataset.kind = a.kind;
      item.textContent = `${new Date(a.at).toLocaleTimeString(LANG, { hour: "2-digit", minute: "2-digit", timeZone: ZONE })} ${a.message}`;
      return item;
    }));
  }

  function incidents(b) {
    const box = $("incidents");
    if (!box || !window.L) return;
    $("incidents-card").hidden = b.incidents.length === 0;       // no view to show before the first one
    if (!b.incidents.length) return;
    if (!state.map) {
      state.map = window.L.map(box, { attributionControl: false });
      window.L.tileLayer(root.dataset.tiles, { maxZoom: 19 }).addTo(state.map);
      state.layer = window.L.layerGroup().addTo(state.map);
    }
    state.layer.clearLayers();
    const points = b.incidents.map((i) => [i.lat, i.lon]);
    b.incidents.forEach((i) => window.L.circleMarker([i.lat, i.lon], { radius: 6 }).bindTooltip(i.category).addTo(state.layer));
    state.map.invalidateSize();
    state.map.fitBounds(points, { maxZoom: 14, padding: [20, 20] });
  }

  function tick() {
    for (const el of document.querySelectorAll("[data-since]")) el.textContent = mmss(now() - Date.parse(el.dataset.since));
    for (const el of document.querySelectorAll("[data-deadline]")) {
      const left = Date.parse(el.dataset.deadline) - now();
      el.textContent = `${mmss(Math.abs(left))} ${left < 0 ? text.late : text.left}`;
      el.dataset.late = String(left < 0);
    }
  }

  function draw(b) {
    state.board = b;
    state.offset = Date.parse(b.at) - Date.now();
    $("shift").textContent = `${text.shift} ${b.shift.name} ${text.until} ${new Date(b.shift.until).toLocaleTimeString(LANG, { hour: "2-digit", minute: "2-digit", timeZone: ZONE })}`;
    figures(b); waiting(b); takers(b); sla(b); unfinished(b); alerts(b); incidents(b); tick();
    seen.frames += 1;
  }

  const source = new EventSource("/api/v1/wallboard/events");
  source.addEventListener("wallboard", (event) => {
    $("live").dataset.state = "up";
    $("live").textContent = text.live;
    draw(JSON.parse(event.data));
  });
  source.onerror = () => { $("live").dataset.state = "down"; $("live").textContent = text.lost; };
  setInterval(tick, 1000);
})();
