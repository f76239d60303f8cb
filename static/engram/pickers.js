// Model pickers (ade/pickers.py): a text input with the catalogue's models in a datalist. Picking one shows its
// context window (or embedding size) under the field and, for a chat model, puts the window into the form's
// context window field. Delegated, so pickers swapped in by htmx work too.
(function () {
  "use strict";

  function pick(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var note = document.getElementById(input.getAttribute("aria-describedby"));
    if (!list || !note) return;
    var chosen = null;
    Array.prototype.forEach.call(list.options, function (o) { if (o.value === input.value.trim()) chosen = o; });
    var chat = input.dataset.modelPicker === "chat";
    if (!chosen) {
      note.textContent = input.value.trim() ? "Not in the catalogue: any litellm handle works; set its context window yourself." : "";
      return;
    }
    note.textContent = (chat ? "Context window: " : "Embedding size: ") + chosen.label;
    var window_ = chat && input.form && input.form.querySelector("input[name=context_window_limit]");
    if (window_ && window_.value !== chosen.dataset.size) {
      window_.value = chosen.dataset.size;
      window_.dispatchEvent(new Event("input", {bubbles: true}));
    }
  }

  document.addEventListener("input", function (e) {
    if (e.target.matches && e.target.matches("input[data-model-picker]")) pick(e.target);
  });
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("input[data-model-picker]")) pick(e.target);
  });
})();
