// The roster page (/roster): the swap and override forms and "back to the rotation", sent to
// the roster API. A written edit reloads the week as the file now says it; a refusal stays
// beside its form, in the page's language first and then the server's precise reason.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const text = JSON.parse($("roster-text").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  async function send(method, path, body) {
    const init = { method, credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrf } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const reply = await fetch(path, init);
    if (reply.status === 401) { window.location.assign("/login?next=/roster"); throw new Error("session ended"); }
    const data = await reply.json().catch(() => ({}));
    if (!reply.ok) {
      throw new Error(`${text.refused} ${text[data.error] || ""} ${data.message || `HTTP ${reply.status}`}`);
    }
    return data;
  }

  function saved() {
    sessionStorage.setItem("roster-saved", "1");
    window.location.reload();
  }

  function wire(form, body, path) {
    const error = form.querySelector(".error");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      error.textContent = "";
      form.querySelector("button[type=submit]").disabled = true;
      send("POST", path, body(new FormData(form))).then(saved, (failure) => {
        error.textContent = failure.message;
        form.querySelector("button[type=submit]").disabled = false;
      });
    });
  }

  const inARow = (f) => f.get("in_a_row") === "on";
  wire($("swap-form"), (f) => ({ date: f.get("date"), accounts: [f.get("first"), f.get("second")],
    in_a_row: inARow(f) }), "/api/v1/roster/swap");
  wire($("override-form"), (f) => ({ date: f.get("date"), shift: f.get("shift"), accounts: f.getAll("accounts"),
    in_a_row: inARow(f) }), "/api/v1/roster/overrides");

  document.querySelectorAll("button.unoverride").forEach((button) => {
    button.addEventListener("click", () => {
      $("unoverride-error").textContent = "";
      const { date, shift } = button.dataset;
      send("DELETE", `/api/v1/roster/overrides/${encodeURIComponent(date)}/${encodeURIComponent(shift)}`)
        .then(saved, (failure) => { $("unoverride-error").textContent = failure.message; });
    });
  });

  if (sessionStorage.getItem("roster-saved")) {
    sessionStorage.removeItem("roster-saved");
    $("roster-status").textContent = text.saved;
  }
})();
