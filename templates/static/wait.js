// A page waiting for someone else (the agent's answer) checks for it in
// the background and reloads only when the page's heading changes, so a
// person reading or a screen reader is not interrupted by timed reloads
// (WCAG 2.2.1). Without scripts a <noscript> meta refresh does the same.
"use strict";
(function () {
  var script = document.currentScript;
  var every = Math.max(2, Number(script && script.dataset.every) || 3) * 1000;
  var heading = function (doc) {
    var h = doc.querySelector("h1");
    return h ? h.textContent.trim() : "";
  };
  var now = heading(document);
  function check() {
    fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" }, cache: "no-store" })
      .then(function (res) {
        if (!res.ok) { location.reload(); return; }
        return res.text().then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          if (heading(doc) !== now) { location.reload(); return; }
          setTimeout(check, every);
        });
      })
      .catch(function () { setTimeout(check, every); });
  }
  setTimeout(check, every);
})();
