// Passkeys (WebAuthn) for aauth-ps. Progressive enhancement: every other
// part of the UI works without JavaScript. Served as a static file so the
// Content-Security-Policy can forbid inline scripts.
"use strict";
(function () {
  function status(msg) {
    var el = document.getElementById("passkey-status");
    if (el) el.textContent = msg;
  }
  async function postJSON(url, body, csrf) {
    var headers = { "Content-Type": "application/json" };
    if (csrf) headers["X-CSRF-Token"] = csrf;
    var res = await fetch(url, { method: "POST", headers: headers, credentials: "same-origin", body: body ? JSON.stringify(body) : "{}" });
    var data = await res.json().catch(function () { return {}; });
    if (data.error === "reauth_required") {
      window.location.assign("/reauth?next=" + encodeURIComponent(window.location.pathname));
      throw new Error("confirm it is you first");
    }
    if (!res.ok) throw new Error(data.detail || data.error || ("HTTP " + res.status));
    return data;
  }
  var login = document.getElementById("passkey-login");
  if (login) {
    login.addEventListener("click", async function () {
      try {
        status("Waiting for your passkey…");
        // The re-authentication page uses the same ceremony at its own
        // endpoints, with the session's CSRF token.
        var csrf = login.dataset.csrf;
        var begin = await postJSON(login.dataset.begin || "/passkeys/login/begin", null, csrf);
        var opts = PublicKeyCredential.parseRequestOptionsFromJSON(begin.options.publicKey);
        var cred = await navigator.credentials.get({ publicKey: opts });
        var done = await postJSON((login.dataset.finish || "/passkeys/login/finish") + "?ceremony=" + encodeURIComponent(begin.ceremony) +
          "&next=" + encodeURIComponent(login.dataset.next || "/"), cred.toJSON(), csrf);
        window.location.assign(done.redirect || "/");
      } catch (e) { status("Passkey login failed: " + e.message); }
    });
  }
  var reg = document.getElementById("passkey-register");
  if (reg) {
    reg.addEventListener("click", async function () {
      try {
        status("Follow your device's prompt…");
        var csrf = reg.dataset.csrf;
        var begin = await postJSON("/settings/passkeys/begin", null, csrf);
        var opts = PublicKeyCredential.parseCreationOptionsFromJSON(begin.options.publicKey);
        var cred = await navigator.credentials.create({ publicKey: opts });
        var name = (document.getElementById("passkey-name") || {}).value || "Passkey";
        await postJSON("/settings/passkeys/finish?ceremony=" + encodeURIComponent(begin.ceremony) +
          "&name=" + encodeURIComponent(name), cred.toJSON(), csrf);
        window.location.reload();
      } catch (e) { status("Adding the passkey failed: " + e.message); }
    });
  }
})();
