// Times in the person's own time zone, with how long ago (or how soon).
// The server writes every time as <time datetime="…Z">, with a UTC text
// for browsers without scripts; this rewrites the text in the browser's
// zone and locale and keeps the relative part current. Served as a static
// file so the Content-Security-Policy can forbid inline scripts.
"use strict";
(function () {
  var absolute = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  var full = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });
  var relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  var units = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];

  function ago(date) {
    var seconds = (date.getTime() - Date.now()) / 1000;
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(seconds) >= units[i][1]) {
        return relative.format(Math.round(seconds / units[i][1]), units[i][0]);
      }
    }
    // A few seconds ahead is clock skew between the server and this
    // device, not the future.
    return seconds < 10 ? "just now" : "in under a minute";
  }

  function render() {
    var els = document.querySelectorAll("time[datetime]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) continue;
      el.textContent = absolute.format(date) + " (" + ago(date) + ")";
      el.title = full.format(date);
    }
  }

  render();
  setInterval(render, 30000);
})();
