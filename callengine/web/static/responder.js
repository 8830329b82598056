// The responder's phone page: their agency's open assignments, read again the moment the
// server says one changed (Server-Sent Events, /api/v1/assignments/events) and polled every
// 15 s besides (a phone's connection comes and goes; a poll needs no stream to survive it);
// a short Web Audio beep for each new one; one big button for the next status, a refusal with its reason, a closing note,
// and photos or PDFs from the phone. Plain JavaScript, no build step; the API is the contract.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const text = JSON.parse($("responder-text").textContent);
  const { LANG, ZONE, api } = window.consolePage;
  const POLL_MS = 15000;
  const NEXT = { diteruskan: "diterima", diterima: "diproses", diproses: "selesai" };
  const state = { cards: new Map(), known: null, offset: 0, jobs: new Map(), audio: null, timer: null };
  // what the browser tests read: polls made, beeps played (attempted)
  const seen = (window.callengineResponder = { polls: 0, beeps: 0, pushes: 0, refresh: () => refresh() });

  const now = () => Date.now() + state.offset;        // the server's clock, as near as we know it
  const clock = (iso) => new Date(iso).toLocaleTimeString(LANG, { hour: "2-digit", minute: "2-digit", timeZone: ZONE });

  async function refresh() {
    try {
      const data = await api("GET", "/api/v1/assignments?status=open");
      state.offset = Date.parse(data.now) - Date.now();
      seen.polls += 1;
      render(data.assignments);
      $("sync").dataset.state = "ok";
      $("sync").textContent = `${text.updated} ${new Date(now()).toLocaleTimeString(LANG, { timeZone: ZONE })}`;
    } catch (err) {
      $("sync").dataset.state = "error";
      $("sync").textContent = `${text.not_updated} ${err.message}`;
    }
  }

  // ---- the list -----------------------------------------------------------------------------
  function render(list) {
    const ids = new Set(list.map((a) => a.id));
    const fresh = state.known ? list.filter((a) => !state.known.has(a.id)) : [];
    state.known = ids;
    for (const [id, card] of state.cards) {
      if (!ids.has(id) && !card.dataset.busy) { card.remove(); state.cards.delete(id); state.jobs.delete(id); }
    }
    const box = $("jobs");
    list.forEach((a, i) => {
      let card = state.cards.get(a.id);
      if (!card) { card = build(a); state.cards.set(a.id, card); }
      state.jobs.set(a.id, a);
      fill(card, a);
      if (box.children[i] !== card) box.insertBefore(card, box.children[i] || null);
    });
    $("empty").hidden = list.length > 0;
    if (fresh.length) {
      beep();
      notice(`${text.new_assignment} ${fresh.map((a) => a.ticket_number).join(", ")}`);
    }
    tick();
  }

  function build(a) {
    const card = $("job-template").content.firstElementChild.cloneNode(true);
    card.dataset.id = a.id;
    const q = (cls) => card.querySelector(cls);
    q(".next").addEventListener("click", () => {
      const job = state.jobs.get(a.id);
      const to = NEXT[job.status];
      if (to) move(card, to, to === "selesai" ? q(".job-closing").value : "");
    });
    q(".refuse-send").addEventListener("click", () => {
      const reason = q(".job-reason").value.trim();
      if (!reason) { showError(card, text.reason_needed); q(".job-reason").focus(); return; }
      move(card, "ditolak", reason);
    });
    q(".job-file").addEventListener("change", (e) => {
      const file = e.target.files[0];
      if (file) upload(card, file).finally(() => { e.target.value = ""; });
    });
    loadDocs(card);
    return card;
  }

  function fill(card, a) {
    const t = a.ticket || {};
    const q = (cls) => card.querySelector(cls);
    const set = (cls, value) => { q(cls).textContent = value || "–"; };
    card.dataset.status = a.status;
    set(".job-number", a.ticket_number);
    set(".job-status", text[a.status] || a.status);
    set(".job-category", (t.category || "").toUpperCase());
    q(".job-type").textContent = t.incident_type ? `· ${t.incident_type}` : "";
    set(".job-desc", t.description);
    q(".job-note").hidden = !a.note;
    q(".job-note-text").textContent = a.note || "";
    set(".job-address", t.address);
    set(".job-kelurahan", t.kelurahan);
    set(".job-kecamatan", t.kecamatan);
    const map = q(".job-map");
    if (t.lat != null && t.lon != null) {
      const lat = Number(t.lat).toFixed(5), lon = Number(t.lon).toFixed(5);
      q(".job-latlon").textContent = `${lat}, ${lon}`;
      map.href = `geo:${lat},${lon}?q=${lat},${lon}`;
      map.hidden = false;
    } else {
      q(".job-latlon").textContent = text.no_location;
      map.hidden = true;
    }
    const phone = t.callback_number || t.caller;
    const call = q(".job-call");
    call.hidden = !phone;
    if (phone) { call.href = `tel:${phone}`; q(".job-phone").textContent = phone; }
    const next = NEXT[a.status];
    q(".next").textContent = next ? text[`next_${a.status}`] : "";
    q(".next").hidden = !next;
    q(".next").dataset.to = next || "";
    q(".closing").hidden = a.status !== "diproses";
  }

  // the SLA line: the next deadline, the time left, or how late (red)
  function tick() {
    for (const [id, card] of state.cards) {
      const a = state.jobs.get(id);
      const line = card.querySelector(".sla");
      if (!a) continue;
      const deadline = a.status === "diteruskan" ? a.accept_by : a.status === "diterima" ? a.process_by : null;
      if (!deadline) {
        line.dataset.late = "false";
        line.textContent = a.processing_at ? `${text.processing_since} ${clock(a.processing_at)}` : "";
        continue;
      }
      const left = Date.parse(deadline) - now();
      const label = a.status === "diteruskan" ? text.accept_by : text.process_by;
      line.dataset.late = String(left < 0);
      line.textContent = `${label} ${clock(deadline)} · ${span(Math.abs(left))} ${left < 0 ? text.late : text.left}`;
    }
  }

  function span(ms) {
    const s = Math.floor(ms / 1000);
    if (s >= 3600) return `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, "0")} j`;
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")} ${text.min}`;
  }

  // ---- changes ------------------------------------------------------------------------------
  async function move(card, to, note) {
    const id = Number(card.dataset.id);
    const number = card.querySelector(".job-number").textContent;
    busy(card, true);
    try {
      const moved = await api("POST", `/api/v1/assignments/${id}/status`, { status: to, note });
      state.jobs.set(id, { ...state.jobs.get(id), ...moved });
      fill(card, state.jobs.get(id));
      showError(card, "");
      if (to === "selesai" || to === "ditolak") {
        notice(`${to === "selesai" ? text.closed : text.refused} ${number}`);
        card.querySelector(".job-closing").value = "";
      }
      busy(card, false);
      await refresh();
    } catch (err) {
      showError(card, err.message);
      busy(card, false);
    }
  }

  async function upload(card, file) {
    const status = card.querySelector(".upload-state");
    const form = new FormData();
    form.append("file", file, file.name);
    status.textContent = text.uploading;
    busy(card, true);
    try {
      await api("POST", `/api/v1/assignments/${card.dataset.id}/attachments`, form);
      status.textContent = text.uploaded;
      showError(card, "");
      await loadDocs(card);
    } catch (err) {
      status.textContent = "";
      showError(card, err.message);
    } finally {
      busy(card, false);
    }
  }

  async function loadDocs(card) {
    const list = card.querySelector(".thumbs");
    try {
      const data = await api("GET", `/api/v1/assignments/${card.dataset.id}/attachments`);
      list.replaceChildren(...data.attachments.map(doc));
    } catch (err) { showError(card, err.message); }
  }

  function doc(a) {
    const item = document.createElement("li");
    item.className = "doc";
    item.dataset.id = a.id;
    const link = document.createElement("a");
    link.href = a.url;
    link.target = "_blank";
    link.rel = "noopener";
    if (a.thumbnail) {
      const img = document.createElement("img");
      img.src = a.thumbnail; img.alt = a.original_name; img.loading = "lazy";
      link.append(img);
    } else {
      link.className = "pdf";
      link.textContent = "PDF";
    }
    const about = document.createElement("div");
    about.className = "doc-about";
    const name = document.createElement("span");
    name.className = "doc-name";
    name.textContent = a.original_name;
    const meta = document.createElement("span");
    meta.className = "doc-meta muted";
    meta.textContent = `${size(a.size)} · ${clock(a.uploaded_at)} · ${a.uploaded_by}`;
    const gps = document.createElement(a.gps ? "a" : "span");
    gps.className = "doc-gps";
    if (a.gps) {
      const lat = a.gps.lat.toFixed(5), lon = a.gps.lon.toFixed(5);
      gps.href = `geo:${lat},${lon}?q=${lat},${lon}`;
      gps.textContent = `GPS ${lat}, ${lon}`;
    } else {
      gps.textContent = text.no_gps;
      gps.classList.add("muted");
    }
    about.append(name, meta, gps);
    item.append(link, about);
    return item;
  }

  const size = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`);

  function busy(card, on) {
    if (on) card.dataset.busy = "1"; else delete card.dataset.busy;
    for (const button of card.querySelectorAll("button, input")) button.disabled = on;
  }

  function showError(card, message) {
    const box = card.querySelector(".job-error");
    box.textContent = message;
    box.hidden = !message;
  }

  function notice(message) {
    const box = $("notice");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(state.noticeTimer);
    state.noticeTimer = setTimeout(() => { box.hidden = true; }, 10000);
  }

  // ---- sound: a short two-tone beep from Web Audio, no file; a phone lets it play once touched
  function audio() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!state.audio) state.audio = new Context();
    return state.audio;
  }

  function beep() {
    seen.beeps += 1;
    const ctx = audio();
    if (!ctx) return;
    ctx.resume().catch(() => {});
    const start = ctx.currentTime + 0.02;
    [880, 1320, 880].forEach((hz, i) => {
      const osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = hz;
      gain.gain.setValueAtTime(0.0001, start + i * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.25, start + i * 0.18 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.18 + 0.15);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start + i * 0.18);
      osc.stop(start + i * 0.18 + 0.16);
    });
  }

  function soundButton() {
    const ctx = audio();
    const button = $("sound");
    if (!ctx) return;
    const show = () => { button.hidden = ctx.state === "running"; };
    ctx.onstatechange = show;
    show();
    const unlock = () => ctx.resume().then(show).catch(() => {});
    button.addEventListener("click", () => unlock().then(() => { seen.beeps -= 1; beep(); }));
    document.addEventListener("pointerdown", unlock, { passive: true });
  }

  // ---- the push: each notice only says "read again"; several at once make one read ---------
  function listen() {
    if (!window.EventSource) return;
    const source = new EventSource("/api/v1/assignments/events");
    let pending = null;
    source.addEventListener("assignment", () => {
      seen.pushes += 1;
      if (!pending) pending = setTimeout(() => { pending = null; refresh(); }, 100);
    });
    source.onopen = () => refresh();           // (re)connected: what changed while away
  }

  soundButton();
  refresh();
  listen();
  setInterval(refresh, POLL_MS);
  setInterval(tick, 1000);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
})();
