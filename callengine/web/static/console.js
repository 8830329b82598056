// What every console page's script shares: the page's language and the centre's time zone, the
// CSRF token, and the calls to the API. One global (window.consolePage), no module: the pages
// are plain scripts. Loaded by base.html without defer, so it runs before any page script,
// deferred or not.
"use strict";

(() => {
  const root = document.documentElement;
  // absent when the page is not shown to a session (the wallboard's TV view may have none)
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content;

  // Any status comes back as is: a JSON body (or FormData, sent as it is) carries the token.
  function send(method, path, body) {
    const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["X-CSRF-Token"] = csrf;
      if (body instanceof FormData) init.body = body;
      else { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    }
    return fetch(path, init);
  }

  const refusal = (reply, data) => new Error(data.message || `HTTP ${reply.status}`);

  window.consolePage = {
    LANG: root.lang || "id",
    ZONE: root.dataset.zone || undefined,   // the centre's clock, not the device's
    csrf,
    // The reply's JSON. A session that ended goes to the login page, which brings the user back here.
    async api(method, path, body) {
      const reply = await send(method, path, body);
      if (reply.status === 401) {
        window.location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
        throw new Error("session ended");
      }
      const data = await reply.json().catch(() => ({}));
      if (!reply.ok) throw refusal(reply, data);
      return data;
    },
    // The raw Response, for a download (a blob) or a reply whose body is not needed; a refusal
    // throws the server's message, with no redirect (the error is shown where it happened).
    async request(method, path, body) {
      const reply = await send(method, path, body);
      if (!reply.ok) throw refusal(reply, await reply.json().catch(() => ({})));
      return reply;
    },
  };
})();
