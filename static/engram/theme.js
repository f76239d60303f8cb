// Engram's colour theme: the system's (light or dark) unless the reader picked one with the top bar's toggle,
// remembered in this browser. Loaded in <head> without defer, so the page is painted in the right theme at once.
(function () {
  "use strict";
  var KEY = "engram-theme";
  var ORDER = ["system", "light", "dark"];
  var LABEL = {system: "Theme: system", light: "Theme: light", dark: "Theme: dark"};

  function stored() {
    try { return localStorage.getItem(KEY) || "system"; } catch (err) { return "system"; }
  }

  function apply(choice) {
    var root = document.documentElement;
    if (choice === "light" || choice === "dark") root.dataset.theme = choice;
    else delete root.dataset.theme;
    var button = document.getElementById("theme-toggle");
    if (button) {
      button.textContent = LABEL[choice] || LABEL.system;
      button.dataset.choice = choice;
    }
  }

  apply(stored());
  document.addEventListener("DOMContentLoaded", function () {
    apply(stored());
    var button = document.getElementById("theme-toggle");
    if (!button) return;
    button.addEventListener("click", function () {
      var next = ORDER[(ORDER.indexOf(stored()) + 1) % ORDER.length];
      try { localStorage.setItem(KEY, next); } catch (err) { /* private mode: this page only */ }
      apply(next);
    });
  });
})();
