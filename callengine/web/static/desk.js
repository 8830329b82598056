// The call taker's desk: the screen pop from the console's event stream, the ticket form that
// saves as the taker types, the caller's location on a map (or as text when no map loads), and
// the list of calls to call back. Plain JavaScript, no build step; the server's API is the contract.
"use strict";

(() => {
  const desk = document.getElementById("desk");
  const me = desk.dataset.account;
  const text = JSON.parse(document.getElementById("desk-text").textContent);
  const $ = (id) => document.getElementById(id);
  const form = $("ticket-form");
  const SAVE_AFTER_MS = 400;
  const { LANG, ZONE, api } = window.consolePage;

  // when each call popped (epoch ms), for the screen-pop benchmark and the browser tests
  const pops = (window.callengineDesk = { pops: [] }).pops;
  const state = { agencies: [], options: null, call: null, ticket: null, dirty: {}, saveTimer: null, saving: false, map: null };

  // ---- the stream of calls ------------------------------------------------------------------
  function follow() {
    const stream = new EventSource("/api/v1/desk/events");
    stream.addEventListener("snapshot", (e) => {
      const snap = JSON.parse(e.data);
      showLink(snap.connected);
      const mine = snap.calls.find((c) => c.agent === me || (c.ringing || []).includes(me));
      if (mine) onCall(mine);
    });
    stream.addEventListener("link", (e) => showLink(JSON.parse(e.data).connected));
    for (const name of ["call.offered", "call.answered", "call.located", "call.ivr_done", "call.queued"]) {
      stream.addEventListener(name, (e) => onCallEvent(name, JSON.parse(e.data)));
    }
    stream.addEventListener("call.ended", (e) => onEnded(JSON.parse(e.data)));
    stream.addEventListener("call.stored", (e) => {           // in the store now: the callback list may show it
      if (JSON.parse(e.data).disposition !== "answered") loadCallbacks();
    });
    stream.onerror = () => showLink(false);      // EventSource reconnects by itself
  }

  function showLink(connected) {
    const el = $("link");
    el.dataset.state = connected ? "up" : "down";
    el.textContent = connected ? text.connected : text.disconnected;
  }

  function onCallEvent(name, data) {
    const call = data.call;
    if (!call) return;
    if (name === "call.offered" && data.agent === me) return onCall(call);
    if (state.call && state.call.linkedid === call.linkedid) return onCall(call);
  }

  function onEnded(data) {
    const record = data.record;
    if (state.call && record && state.call.linkedid === record.linkedid) {
      if (!state.ticket) return idle();         // it rang here and ended unanswered: nothing to finish
      state.call = { ...state.call, state: "ended" };
      showCallState("ended");
      $("wrapup").disabled = !state.ticket;
    }
  }

  // ---- the screen pop -----------------------------------------------------------------------
  function onCall(call) {
    const first = !state.call || state.call.linkedid !== call.linkedid;
    if (!first && call.state === "answered" && call.agent !== me) return idle();   // a colleague took it
    if (first && state.ticket && state.call && state.call.state !== "ended") return; // busy with another call
    if (call.state === "ringing" && !(call.ringing || []).includes(me) && call.agent !== me) return;
    state.call = call;
    $("call").dataset.state = call.state;
    $("call-idle").hidden = true;
    $("call-pop").hidden = false;
    $("call-number").textContent = call.caller || call.caller_raw || "–";
    $("call-number-status").textContent = call.caller ? "" : (call.caller_raw ? text.invalid : text.withheld);
    $("call-category").textContent = call.category || "–";
    $("call-category").dataset.category = call.category || "";
    $("call-path").textContent = (call.ivr_path || []).join(" → ") || "–";
    $("call-wait").textContent = waited(call);
    showCallState(call.state);
    showLocation(call.locations || [], call.location);
    if (first) {
      pops.push({ linkedid: call.linkedid, at: performance.timeOrigin + performance.now() });
      resetTicket();
      loadHistory(call.caller);
    }
    if (call.state === "answered" && call.agent === me && !state.ticket) loadTicket(call.linkedid);
  }

  function showCallState(name) {
    $("call-state").textContent = text[name] || name;
    $("call").dataset.state = name;
  }

  function waited(call) {
    const end = call.answered_at ? new Date(call.answered_at) : new Date();
    return `${Math.max(0, Math.round((end - new Date(call.started_at)) / 1000))} ${text.seconds}`;
  }

  async function loadHistory(caller) {
    const list = $("call-history");
    list.replaceChildren();
    $("call-prank").hidden = true;
    if (!caller) return;
    try {
      const history = await api("GET", `/api/v1/desk/history?caller=${encodeURIComponent(caller)}`);
      const found = history.tickets.filter((t) => !state.call || t.linkedid !== state.call.linkedid);
      $("call-prank").hidden = !(history.prank_calls > 0 || found.some((t) => t.classification === "prank"));
      if (!found.length) return list.append(item(text.no_history, "muted"));
      for (const t of found) {
        list.append(item(`${local(t.created_at)} · ${t.number || "–"} · ${t.category || "–"} · ${t.classification || t.status}`,
                         t.classification === "prank" ? "prank" : ""));
      }
    } catch (err) { list.append(item(err.message, "muted")); }
  }

  // ---- the ticket form ----------------------------------------------------------------------
  function resetTicket() {
    state.ticket = null; state.dirty = {};
    form.reset();
    $("ticket-fields").disabled = true;
    $("ticket-number").textContent = "–";
    $("call-ticket").textContent = "–";
    $("save-state").textContent = "";
    $("wrapup").disabled = true;
    $("wrapup-state").textContent = "";
    $("dispatch").hidden = true;
    $("dispatch-state").textContent = "";
    $("agency-choices").replaceChildren();
  }

  async function loadTicket(linkedid, tries = 30) {
    // the engine opens the ticket as the taker answers; it may land a moment after the event
    for (let i = 0; i < tries && !state.ticket; i++) {
      const found = (await api("GET", `/api/v1/tickets?linkedid=${encodeURIComponent(linkedid)}&limit=1`)).tickets;
      if (found.length) return showTicket(found[0]);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  function showTicket(ticket) {
    state.ticket = ticket;
    $("ticket-number").textContent = ticket.number;
    $("call-ticket").textContent = ticket.number;
    fillIncidentTypes(state.call && state.call.category);
    for (const [name, value] of Object.entries(ticket)) {
      const field = form.elements.namedItem(name);
      if (field && value !== null && value !== undefined && !(name in state.dirty)) field.value = value;
    }
    fillKelurahan(ticket.kelurahan);
    showLatLon(ticket.lat, ticket.lon);
    $("duplicate-label").hidden = form.elements.classification.value !== "duplikat";
    $("ticket-fields").disabled = false;
    loadProposal();
    $("wrapup").disabled = false;
    if (!document.activeElement || document.activeElement === document.body) form.elements.classification.focus();
  }

  function changed(event) {
    const field = event.target;
    if (!state.ticket || !field.name || field.name === "latlon") return;
    if (field.name === "kecamatan") { fillKelurahan(""); state.dirty.kelurahan = null; }
    if (field.name === "classification") $("duplicate-label").hidden = field.value !== "duplikat";
    state.dirty[field.name] = valueOf(field);
    scheduleSave();
  }

  function valueOf(field) {
    if (field.value === "") return null;
    if (field.name === "victims" || field.name === "priority") return Number(field.value);
    return field.value;
  }

  function scheduleSave(delay = SAVE_AFTER_MS) {
    clearTimeout(state.saveTimer);
    $("save-state").textContent = text.saving;
    $("save-state").dataset.state = "saving";
    state.saveTimer = setTimeout(save, delay);
  }

  async function save() {
    if (state.saving) return scheduleSave();
    const body = state.dirty;
    if (!state.ticket || !Object.keys(body).length) return;
    state.dirty = {};
    state.saving = true;
    try {
      const ticket = await api("PATCH", `/api/v1/tickets/${encodeURIComponent(state.ticket.number)}`, body);
      state.ticket = ticket;
      if (["classification", "incident_type", "kecamatan"].some((k) => k in body)) loadProposal();
      $("save-state").textContent = `${text.saved} ${new Date().toLocaleTimeString(LANG, { timeZone: ZONE })}`;
      $("save-state").dataset.state = "saved";
    } catch (err) {
      state.dirty = { ...body, ...state.dirty };       // kept, and sent again with the next change
      $("save-state").textContent = `${text.not_saved}: ${err.message}`;
      $("save-state").dataset.state = "error";
    } finally {
      state.saving = false;
    }
  }

  async function wrapUp() {
    if (!state.ticket) return;
    clearTimeout(state.saveTimer);
    await save();
    try {
      await api("POST", `/api/v1/tickets/${encodeURIComponent(state.ticket.number)}/wrapup`, {});
      const finished = `${text.finished}: ${state.ticket.number}`;
      idle();
      $("wrapup-state").textContent = finished;
    } catch (err) { $("wrapup-state").textContent = err.message; }
  }

  function idle() {
    state.call = null;
    resetTicket();
    $("call-idle").hidden = false;
    $("call-pop").hidden = true;
    showCallState("idle");
    $("call-state").textContent = "";
  }

  // ---- dispatch to the agencies -------------------------------------------------------------
  async function loadProposal() {
    if (!state.ticket || !state.agencies.length) return;
    const number = state.ticket.number;
    let proposal;
    try { proposal = await api("GET", `/api/v1/dispatch/proposal/${encodeURIComponent(number)}`); }
    catch (err) { $("dispatch-state").textContent = err.message; return; }
    if (!state.ticket || state.ticket.number !== number) return;
    const touched = new Set([...$("agency-choices").querySelectorAll("input[data-touched]")].map((i) => i.value));
    const ticked = new Set([...$("agency-choices").querySelectorAll("input:checked")].map((i) => i.value));
    $("agency-choices").replaceChildren(...state.agencies.map((agency) => {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox"; box.value = agency.code;
      const assigned = proposal.assigned[agency.code];
      box.checked = touched.has(agency.code) ? ticked.has(agency.code) : proposal.agencies.includes(agency.code);
      if (touched.has(agency.code)) box.dataset.touched = "1";
      box.addEventListener("change", () => { box.dataset.touched = "1"; });
      label.append(box, ` ${agency.code}`);
      label.title = agency.name;
      if (assigned) {
        box.checked = false; box.disabled = true; label.className = "assigned";
        const status = document.createElement("span"); status.className = "status"; status.textContent = assigned;
        label.append(status);
      }
      return label;
    }));
    $("dispatch").hidden = false;
  }

  async function dispatch() {
    if (!state.ticket) return;
    const codes = [...$("agency-choices").querySelectorAll("input:checked:not(:disabled)")].map((i) => i.value);
    if (!codes.length) { $("dispatch-state").textContent = text.choose_agency; return; }
    clearTimeout(state.saveTimer);
    await save();                                   // the agencies read what the taker wrote
    try {
      await api("POST", `/api/v1/tickets/${encodeURIComponent(state.ticket.number)}/dispatch`,
                { agencies: codes, note: $("dispatch-note").value });
      $("dispatch-state").textContent = `${text.dispatched}: ${codes.join(", ")}`;
      $("dispatch-note").value = "";
      $("agency-choices").querySelectorAll("input[data-touched]").forEach((i) => delete i.dataset.touched);
      loadProposal();
    } catch (err) { $("dispatch-state").textContent = err.message; }
  }

  // ---- the form's choices -------------------------------------------------------------------
  async function loadOptions() {
    state.options = await api("GET", "/api/v1/desk/options");
    state.agencies = (await api("GET", "/api/v1/agencies")).agencies;
    fill(form.elements.kecamatan, state.options.gazetteer.map((g) => g.kecamatan));
    fill(form.elements.priority, state.options.priorities);
    fillIncidentTypes(null);
  }

  function fillIncidentTypes(category) {
    const types = state.options ? (state.options.incident_types[category] ||
      [...new Set(Object.values(state.options.incident_types).flat())]) : [];
    fill(form.elements.incident_type, types);
  }

  function fillKelurahan(selected) {
    const entry = state.options && state.options.gazetteer.find((g) => g.kecamatan === form.elements.kecamatan.value);
    fill(form.elements.kelurahan, entry ? entry.kelurahan : []);
    if (selected) form.elements.kelurahan.value = selected;
  }

  function fill(select, values) {
    const keep = select.value;
    select.replaceChildren(new Option("–", ""), ...values.map((v) => new Option(String(v), String(v))));
    select.value = keep;
  }

  // ---- where the caller is ------------------------------------------------------------------
  function showLocation(locations, best) {
    const list = $("sources");
    list.replaceChildren();
    if (!locations.length) list.append(item(text.no_location, "muted"));
    for (const loc of locations) {
      const radius = loc.radius_m ? ` ± ${Math.round(loc.radius_m)} m` : "";
      list.append(item(`${loc.source} · ${loc.lat.toFixed(5)}, ${loc.lon.toFixed(5)}${radius}`,
                       best && loc.lat === best.lat && loc.lon === best.lon ? "best" : ""));
    }
    if (best) drawMap(best);
  }

  function drawMap(best) {
    if (!window.L || !desk.dataset.tiles) return;
    const mapEl = $("map");
    mapEl.hidden = false;
    $("map-hint").hidden = false;
    if (!state.map) {
      const map = L.map(mapEl, { attributionControl: true }).setView([best.lat, best.lon], 16);
      const tiles = L.tileLayer(desk.dataset.tiles, { maxZoom: 19, attribution: desk.dataset.attribution });
      let failed = false;
      tiles.on("tileerror", () => {
        if (!failed) { failed = true; $("map-hint").textContent = text.tiles_failed; }
      });
      tiles.addTo(map);
      map.on("click", (e) => correct(e.latlng.lat, e.latlng.lng));
      state.map = { map, accuracy: null, marker: null, corrected: null };
    }
    const m = state.map;
    if (m.accuracy) m.accuracy.remove();
    if (m.marker) m.marker.remove();
    m.accuracy = L.circle([best.lat, best.lon], { radius: best.radius_m || 0, color: "#1f6feb", weight: 1 }).addTo(m.map);
    m.marker = L.circleMarker([best.lat, best.lon], { radius: 7, color: "#c8102e", fillOpacity: 0.9 }).addTo(m.map);
    m.marker.getElement().classList.add("caller-marker");
    m.map.setView([best.lat, best.lon], m.map.getZoom());
  }

  function correct(lat, lon) {
    if (!state.ticket) return;
    const m = state.map;
    if (m.corrected) m.corrected.remove();
    m.corrected = L.circleMarker([lat, lon], { radius: 7, color: "#1a7f37", fillOpacity: 0.9 }).addTo(m.map);
    showLatLon(lat, lon);
    state.dirty.lat = Number(lat.toFixed(6));
    state.dirty.lon = Number(lon.toFixed(6));
    scheduleSave(0);
  }

  function showLatLon(lat, lon) {
    form.elements.latlon.value = lat === null || lat === undefined ? "" : `${lat.toFixed(5)}, ${lon.toFixed(5)} (${text.corrected})`;
  }

  // ---- calls to call back -------------------------------------------------------------------
  async function loadCallbacks() {
    const rows = $("callback-rows");
    let calls;
    try { calls = (await api("GET", "/api/v1/callbacks")).callbacks; } catch (err) { return; }
    $("callback-count").textContent = calls.length ? `(${calls.length})` : "";
    rows.replaceChildren();
    if (!calls.length) {
      const tr = rows.insertRow(); const td = tr.insertCell(); td.colSpan = 4; td.className = "muted";
      td.textContent = text.none_to_call;
    }
    for (const c of calls) {
      const tr = rows.insertRow();
      tr.dataset.linkedid = c.linkedid;
      tr.insertCell().textContent = local(c.started_at);
      tr.insertCell().textContent = c.caller || c.caller_raw || "–";
      const last = (c.called_back || []).at(-1);
      tr.insertCell().textContent = (text[c.disposition] || c.disposition) +
        (c.reached_since ? ` · ${text.reached} ${local(c.reached_since)}` : "") +
        (last ? ` · ${text.called_back} ${local(last.placed_at)}${last.outcome ? ` (${last.outcome})` : ""}` : "");
      const cell = tr.insertCell();
      if (c.caller) {
        const button = document.createElement("button");
        button.type = "button"; button.className = "small"; button.textContent = text.call_back;
        button.addEventListener("click", () => callBack(c.linkedid, button));
        cell.append(button);
      }
    }
  }

  async function callBack(linkedid, button) {
    button.disabled = true;
    try {
      await api("POST", `/api/v1/callbacks/${encodeURIComponent(linkedid)}/call`, {});
      button.textContent = text.calling;
    } catch (err) {
      button.textContent = err.message;
      button.disabled = false;
    }
  }

  // ---- small things -------------------------------------------------------------------------
  function item(content, className) {
    const li = document.createElement("li");
    li.textContent = content;
    if (className) li.className = className;
    return li;
  }

  function local(iso) {
    return iso ? new Date(iso).toLocaleString(LANG, { day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit", timeZone: ZONE }) : "–";
  }

  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("submit", (e) => e.preventDefault());
  $("wrapup").addEventListener("click", wrapUp);
  $("dispatch-send").addEventListener("click", dispatch);
  setInterval(() => { if (state.call && state.call.state !== "answered" && state.call.state !== "ended") $("call-wait").textContent = waited(state.call); }, 1000);
  loadOptions().catch(() => {}).finally(follow);
  loadCallbacks();
  setInterval(loadCallbacks, 60000);
})();
