// Scoring a call on its page (/calls/{linkedid}): every version of every reviewer's score, and
// for QA staff and supervisors the form of config/qa.conf to score it while listening (or, once
// scored, to correct it: a new version with a reason; nothing is ever changed in place). The
// evidence export (a signed ZIP, with a reason) and the legal hold. Plain JavaScript on the API.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const box = $("scoring");
  if (!box) return;
  const text = JSON.parse($("score-text").textContent);
  const linkedid = box.dataset.linkedid;
  const canScore = box.dataset.scores === "yes";
  const { LANG, ZONE, request } = window.consolePage;
  const state = { forms: [], scores: [], correcting: null };
  const seen = (window.callengineScoring = { loads: 0 });
  // request, not api: this page shows a lapsed session's refusal, it never sent it to /login
  const json = async (method, path, body) => (await request(method, path, body)).json();

  const when = (iso) => new Date(iso).toLocaleString(LANG, { dateStyle: "short", timeStyle: "short", timeZone: ZONE });
  const el = (tag, props = {}, ...kids) => { const node = Object.assign(document.createElement(tag), props); node.append(...kids); return node; };

  // ---- the versions ---------------------------------------------------------------------------
  function drawScores() {
    $("versions").replaceChildren(...state.scores.map((s) => {
      const head = el("p", { className: "version-head" },
        el("strong", { className: "percent", textContent: s.failed_critical ? "0%" : `${Math.round(s.percent)}%` }),
        ` ${s.reviewer} · ${text.version} ${s.version}${s.latest ? ` (${text.latest})` : ""} · ${when(s.created_at)}`);
      if (s.failed_critical) head.append(el("span", { className: "failed", textContent: ` ${text.failed}` }));
      const item = el("li", {}, head);
      item.dataset.scoreId = s.id;
      item.dataset.latest = String(s.latest);
      if (s.reason) item.append(el("p", { className: "small", textContent: `${text.reason}: ${s.reason} (${s.by})` }));
      if (s.comment) item.append(el("p", { className: "prose", textContent: s.comment }));
      const answers = el("ul", { className: "answers" }, ...s.answers.map((a) => el("li", {
        className: a.critical && a.value === "no" ? "bad" : "",
        textContent: `${a.criterion}: ${text[a.value] || a.value}${a.comment ? ` · ${a.comment}` : ""}` })));
      item.append(el("details", {}, el("summary", { textContent: `${s.answers.length} ×` }), answers));
      if (canScore && s.latest && (s.reviewer === box.dataset.me || box.dataset.supervisor === "yes")) {
        const fix = el("button", { type: "button", className: "small", textContent: text.correct });
        fix.addEventListener("click", () => openForm(s));
        item.append(fix);
      }
      return item;
    }));
    $("no-scores").hidden = state.scores.length > 0;
  }

  // ---- the form -------------------------------------------------------------------------------
  function choices(c, name, given) {
    const options = c.out_of === 1 ? ["yes", "no"] : [...Array(c.out_of + 1).keys()].map(String);
    if (c.na) options.push("na");
    return el("span", { className: "choices" }, ...options.map((value) => {
      const input = el("input", { type: "radio", name, value, checked: given != null && String(given) === value });
      return el("label", {}, input, ` ${text[value] || value}`);
    }));
  }

  function openForm(previous) {
    const form = state.forms.find((f) => f.name === (previous ? previous.form : state.forms[0]?.name));
    if (!form) return;
    state.correcting = previous || null;
    const given = Object.fromEntries((previous?.answers || []).map((a) => [a.criterion, a]));
    $("score-title").textContent = form.title;
    $("criteria").replaceChildren(...form.parts.map((part) => el("fieldset", {},
      el("legend", { textContent: part }),
      ...form.criteria.filter((c) => c.part === part).map((c) => {
        const row = el("div", { className: "criterion" });
        row.dataset.criterion = c.id;
        row.append(el("span", { className: "what", textContent: c.text }),
                   c.critical ? el("span", { className: "critical", textContent: text.critical }) : "",
                   choices(c, `c-${c.id}`, given[c.id]?.value),
                   el("input", { className: "note", name: `n-${c.id}`, maxLength: 500, placeholder: text.comment,
                                 value: given[c.id]?.comment || "" }));
        return row;
      }))));
    $("score-form").elements.comment.value = previous?.comment || "";
    $("score-form").querySelector(".reason").hidden = !previous;
    $("score-send").textContent = previous ? text.submit_correction : text.submit;
    $("score-form").dataset.form = form.name;
    $("score-form").hidden = false;
  }

  async function send(event) {
    event.preventDefault();
    const form = $("score-form");
    const answers = {};
    for (const row of form.querySelectorAll(".criterion")) {
      const chosen = row.querySelector("input[type=radio]:checked");
      if (!chosen) { $("score-error").textContent = text.answer_all; row.scrollIntoView({ block: "center" }); return; }
      const value = /^[0-9]+$/.test(chosen.value) ? Number(chosen.value) : chosen.value;
      const note = row.querySelector(".note").value.trim();
      answers[row.dataset.criterion] = note ? { value, comment: note } : value;
    }
    const comment = form.elements.comment.value.trim();
    const reason = form.elements.reason.value.trim();
    if (state.correcting && !reason) { $("score-error").textContent = text.reason_needed; return; }
    $("score-error").textContent = "";
    try {
      if (state.correcting) await json("POST", `/api/v1/scores/${state.correcting.id}/corrections`, { answers, comment, reason });
      else await json("POST", `/api/v1/calls/${encodeURIComponent(linkedid)}/scores`, { form: form.dataset.form, answers, comment });
      form.hidden = true;
      await load();
    } catch (err) {
      $("score-error").textContent = err.message;
    }
  }

  async function load() {
    const scores = await json("GET", `/api/v1/calls/${encodeURIComponent(linkedid)}/scores`);
    state.scores = scores.scores.slice().reverse();           // newest first
    drawScores();
    if (canScore && !state.forms.length) state.forms = (await json("GET", "/api/v1/qa/forms")).forms;
    const mine = state.scores.some((s) => s.reviewer === box.dataset.me);
    if (canScore && !mine && $("score-form").hidden) openForm(null);
    seen.loads += 1;
  }

  // ---- custody: the evidence bundle and the legal hold ------------------------------------------
  function custody() {
    const evidence = $("evidence-form");
    if (evidence) {
      evidence.addEventListener("submit", async (event) => {
        event.preventDefault();
        $("evidence-state").textContent = text.exporting;
        try {
          const reply = await request("POST", `/api/v1/calls/${encodeURIComponent(linkedid)}/evidence`,
                                      { reason: evidence.elements.reason.value.trim() });
          const name = (reply.headers.get("Content-Disposition") || "").match(/filename="?([^";]+)/)?.[1] || "bukti.zip";
          const link = el("a", { href: URL.createObjectURL(await reply.blob()), download: name, textContent: name });
          $("evidence-state").replaceChildren(`${text.exported} `, link);
          link.click();
        } catch (err) {
          $("evidence-state").textContent = err.message;
        }
      });
    }
    const hold = $("hold-toggle");
    if (hold) {
      hold.addEventListener("click", async () => {
        const held = $("hold-state").dataset.held === "yes";
        try {
          await request(held ? "DELETE" : "POST", `/api/v1/calls/${encodeURIComponent(linkedid)}/hold`, held ? undefined : {});
          $("hold-state").dataset.held = held ? "no" : "yes";
          $("hold-state").textContent = held ? text.no : text.yes;
          hold.textContent = held ? text.hold : text.lift;
        } catch (err) {
          hold.title = err.message;
        }
      });
    }
  }

  $("score-form").addEventListener("submit", send);
  custody();
  load().catch((err) => { $("no-scores").hidden = false; $("no-scores").textContent = err.message; });
})();
