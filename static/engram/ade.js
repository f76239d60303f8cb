// Engram ADE: the little glue htmx does not do by itself. Events from the agent's websocket arrive as JSON;
// each becomes a DOM event on <body> ("engram:block", "engram:message", …) and the panels that care re-fetch
// themselves over HTTP (hx-trigger="engram:block from:body"). Token deltas are appended to a streaming bubble.
(function () {
  "use strict";

  var EVENTS = {
    "agent.message": "engram:message",
    "agent.block": "engram:block",
    "agent.run_status": "engram:run",
    "agent.step": "engram:step",
    "agent.compaction": "engram:compaction",
    "agent.files": "engram:files",
  };

  function setLive(state, text) {
    var el = document.getElementById("live");
    if (el) { el.dataset.state = state; el.textContent = text; }
  }

  function nearBottom(log) {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  // Whether the chat follows the conversation. Decided by where the reader scrolled to, never by the size of what
  // just arrived: measured after a tall reply lands, the log would no longer look "near the bottom" and the reply
  // would stay below the fold.
  var stick = true;

  function scrollChat(force) {
    var log = document.getElementById("chat-log");
    if (!log) return;
    if (force) stick = true;
    if (stick) log.scrollTop = log.scrollHeight;
  }

  document.addEventListener("scroll", function (e) {
    if (e.target && e.target.id === "chat-log") stick = nearBottom(e.target);
  }, true);

  function stream(event) {
    var box = document.getElementById("stream");
    if (!box || !event.delta) return;
    // Only the runs of the conversation this chat shows (another conversation's deltas go to its own chat). The
    // socket names it, so the first tokens show even before the run banner has loaded.
    if ((event.conversation || "") !== (box.dataset.conversation || "")) return;
    // The socket has read the deltas already (agents.reply_stream): "reasoning" (a memgpt agent's inner monologue
    // too) or "reply" (a memgpt reply decoded out of its send_message call as it streams).
    var target = box.querySelector(".bubble");
    if (event.kind === "reasoning") {
      target = box.querySelector(".reasoning-stream");
      if (!target) {
        target = document.createElement("div");
        target.className = "reasoning-stream";
        box.prepend(target);
      }
    } else if (event.kind !== "reply") {
      return;
    }
    box.hidden = false;
    target.textContent += event.delta;
    scrollChat(false);
  }

  // The live bubble ends when its message is stored, but the stored message shows only when the chat's tail has
  // re-read itself over HTTP. Until then the streamed text stays as a placeholder at the end of the tail, which that
  // swap replaces (innerHTML), so the reply never vanishes in between.
  // (Unless the tail already shows that message: a re-read started by an earlier event can land after it was stored.)
  function clearStream(event) {
    var box = document.getElementById("stream");
    if (!box) return;
    var tail = document.getElementById("chat-tail");
    var seq = event && event.message && event.message.seq;
    var shown = seq != null && tail && tail.querySelector('[data-seq="' + seq + '"]');
    if (!box.hidden && tail && !shown && box.querySelector(".bubble").textContent) {
      var settled = box.cloneNode(true);
      settled.removeAttribute("id");
      settled.removeAttribute("aria-live");
      settled.classList.remove("streaming");
      settled.classList.add("settling");
      tail.append(settled);
    }
    box.hidden = true;
    box.querySelector(".bubble").textContent = "";
    var r = box.querySelector(".reasoning-stream");
    if (r) r.remove();
  }

  function toast(text) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var note = document.createElement("div");
    note.className = "toast";
    note.textContent = text;
    box.append(note);
    setTimeout(function () { note.remove(); }, 6000);
  }

  // A refused action (an approval already answered, …): the server says why.
  document.addEventListener("engram:notice", function (e) {
    toast((e.detail && e.detail.text) || "Refused.");
  });

  document.addEventListener("engram:compaction", function (e) {
    var d = e.detail || {};
    toast("Context compacted: " + d.evicted + " messages moved to recall memory (" +
      d.tokens_before + " → " + d.tokens_after + " tokens).");
  });

  document.addEventListener("htmx:wsOpen", function () {
    setLive("live", "live");
    // The channel layer is not storage: whatever happened while no socket listened (before the first connect,
    // during a reconnect, or since a page restored from htmx's history cache was rendered) is re-read over HTTP.
    htmx.trigger(document.body, "engram:resync", {});
  });
  document.addEventListener("htmx:wsClose", function () { setLive("offline", "reconnecting…"); });
  document.addEventListener("htmx:wsError", function () { setLive("offline", "reconnecting…"); });

  document.addEventListener("htmx:wsBeforeMessage", function (e) {
    e.preventDefault(); // JSON, not HTML: do not let the extension swap it
    var event;
    try { event = JSON.parse(e.detail.message); } catch (err) { return; }
    if (event.type === "agent.token") { stream(event); return; }
    if (event.type === "agent.message" || event.type === "agent.run_status") clearStream(event);
    var name = EVENTS[event.type];
    if (name) htmx.trigger(document.body, name, event);
  });

  document.addEventListener("htmx:afterSwap", function (e) {
    var id = e.detail.target && e.detail.target.id;
    if (id === "chat-tail" || id === "chat-form") scrollChat(id === "chat-form");
    // A refused form: bring its first field error into view (it may be far below where the panel opens) and put
    // the cursor in that field.
    var root = e.target;
    if (!root || !root.querySelector || !e.detail.xhr || e.detail.xhr.status < 400) return;
    var failed = root.querySelector(".errorlist") || root.querySelector(".conflict, [role=alert]");
    if (failed) {
      failed.scrollIntoView({block: "center"});
      var field = failed.parentElement && failed.parentElement.querySelector("input:not([type=hidden]), select, textarea");
      if (field) field.focus({preventScroll: true});
    }
  });

  // A file over the server's body limit would be cut off with a bare error page: refuse it here, with a message.
  document.addEventListener("submit", function (e) {
    var inputs = e.target.querySelectorAll ? e.target.querySelectorAll("input[type=file][data-max-bytes]") : [];
    for (var i = 0; i < inputs.length; i++) {
      var input = inputs[i], max = parseInt(input.dataset.maxBytes, 10), file = input.files && input.files[0];
      if (file && file.size > max) {
        e.preventDefault();
        input.setCustomValidity(file.name + " is " + file.size + " bytes; the limit is " + max + " bytes.");
        input.reportValidity();
        input.addEventListener("change", function () { this.setCustomValidity(""); }, {once: true});
        return;
      }
    }
  }, true);

  // A picker that acts as soon as it changes (the conversation switcher).
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.matches && t.matches("select[data-submit-on-change]") && t.form) t.form.requestSubmit();
  });

  // Enter sends, Shift+Enter inserts a new line.
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.key !== "Enter" || e.shiftKey || e.isComposing || !t.matches || !t.matches("textarea[data-enter-submits]")) return;
    e.preventDefault();
    if (t.value.trim() && t.form) t.form.requestSubmit();
  });

  // Pop-over menus (<details class="create">: the agent list's New agent and Import agent): Escape closes them, as
  // does a click anywhere outside them.
  function closePopovers(keep) {
    var open = document.querySelectorAll("details.create[open]");
    for (var i = 0; i < open.length; i++) if (!keep || !open[i].contains(keep)) open[i].open = false;
    return open.length;
  }
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    var inside = e.target.closest && e.target.closest("details.create[open]");
    if (closePopovers(null) && inside) inside.querySelector("summary").focus();
  });
  document.addEventListener("click", function (e) { closePopovers(e.target); });

  // Live character counter against a block's limit (the limit itself may be edited alongside).
  document.addEventListener("input", function (e) {
    var t = e.target;
    if (t.matches && t.matches("input[data-limit-for]")) {
      var area = document.getElementById(t.dataset.limitFor);
      if (area) { area.dataset.limit = t.value; area.dispatchEvent(new Event("input", {bubbles: true})); }
      return;
    }
    if (!t.matches || !t.matches("textarea[data-limit]")) return;
    var counter = document.querySelector('[data-counter-for="' + t.id + '"]');
    if (!counter) return;
    var limit = parseInt(t.dataset.limit, 10);
    counter.textContent = t.value.length + " / " + limit;
    counter.classList.toggle("over", t.value.length > limit);
  });

  // A panel re-reads itself when the agent's events arrive: the sections a person opened stay open, and what they were
  // typing in them is kept (only on those refreshes, GETs: a form's own answer renders what the server decided).
  var kept = null;
  document.addEventListener("htmx:beforeSwap", function (e) {
    kept = null;
    var target = e.detail.target;
    if (!target || !target.querySelectorAll) return;
    var open = target.querySelectorAll("details[id][open]");
    if (!open.length) return;
    var get = (e.detail.requestConfig && e.detail.requestConfig.verb) === "get";
    kept = [];
    for (var i = 0; i < open.length; i++) {
      var values = [];
      if (get) {
        var fields = open[i].querySelectorAll("input[name]:not([type=hidden]):not([type=file]), textarea[name]");
        for (var j = 0; j < fields.length; j++) if (fields[j].value) values.push([fields[j].name, fields[j].value]);
      }
      kept.push({id: open[i].id, values: values});
    }
  });
  document.addEventListener("htmx:afterSwap", function () {
    if (!kept) return;
    kept.forEach(function (section) {
      var el = document.getElementById(section.id);
      if (!el || el.tagName !== "DETAILS") return;
      el.open = true;
      section.values.forEach(function (pair) {
        var field = el.querySelector('[name="' + pair[0] + '"]');
        if (field && !field.value) field.value = pair[1];
      });
    });
    kept = null;
  });

  // The database could not take the request now (503, config/errors.py): say so; trying again helps.
  document.addEventListener("htmx:responseError", function (e) {
    if (e.detail.xhr.status === 503) toast(e.detail.xhr.responseText || "Engram is busy; try again shortly.");
  });

  // Inside [data-swap-errors], a refused change (403/409/422, or 429: busy) comes back as the re-rendered partial with its
  // reason: show it in place (htmx swaps no 4xx by default).
  document.addEventListener("htmx:beforeSwap", function (e) {
    var status = e.detail.xhr.status;
    if ((status === 403 || status === 409 || status === 422 || status === 429) && e.detail.elt.closest && e.detail.elt.closest("[data-swap-errors]")) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  // Files panel: each file dropped on (or chosen in) a folder's drop zone is uploaded on its own request, with a
  // progress bar; when it is stored the list re-fetches itself (and polls while files are processed).
  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }
    catch (err) { return ""; }
  }

  function uploadFiles(zone, files) {
    var list = document.getElementById("uploads");
    Array.prototype.forEach.call(files, function (file) {
      var item = document.createElement("li");
      var label = document.createElement("span");
      var bar = document.createElement("progress");
      var note = document.createElement("span");
      label.textContent = file.name + " ";
      bar.max = 100; bar.value = 0;
      note.className = "muted small";
      item.append(label, bar, note);
      if (list) list.prepend(item);
      if (file.size > parseInt(zone.dataset.maxBytes || "0", 10)) {
        note.textContent = " too large (at most " + zone.dataset.maxBytes + " bytes)";
        note.className = "error small"; bar.remove();
        return;
      }
      var form = new FormData();
      form.append("file", file);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", zone.dataset.uploadUrl);
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
      });
      xhr.addEventListener("load", function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
        if (xhr.status >= 200 && xhr.status < 300) {
          bar.value = 100; note.textContent = " uploaded, processing…";
          document.body.dispatchEvent(new CustomEvent("engram:files"));
        } else {
          note.textContent = " " + (body.error || ("upload failed (" + xhr.status + ")"));
          note.className = "error small";
        }
      });
      xhr.addEventListener("error", function () { note.textContent = " upload failed"; note.className = "error small"; });
      xhr.send(form);
    });
  }

  document.addEventListener("dragover", function (e) {
    var zone = e.target.closest && e.target.closest(".dropzone");
    if (zone) { e.preventDefault(); zone.classList.add("over"); }
  });
  document.addEventListener("dragleave", function (e) {
    var zone = e.target.closest && e.target.closest(".dropzone");
    if (zone) zone.classList.remove("over");
  });
  document.addEventListener("drop", function (e) {
    var zone = e.target.closest && e.target.closest(".dropzone");
    if (!zone) return;
    e.preventDefault();
    zone.classList.remove("over");
    uploadFiles(zone, e.dataTransfer.files);
  });
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.matches && t.matches(".dropzone input[type=file]")) {
      uploadFiles(t.closest(".dropzone"), t.files);
      t.value = "";
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    scrollChat(true);
    // Anything that changes the log's height (a reply, the live bubble, the run banner, an opened tool call)
    // keeps the newest message in view while the reader follows the conversation.
    var log = document.getElementById("chat-log");
    if (log && window.ResizeObserver) {
      var follow = new ResizeObserver(function () { scrollChat(false); });
      follow.observe(log);
      Array.prototype.forEach.call(log.children, function (child) { follow.observe(child); });
    }
    var box = document.querySelector("textarea[data-enter-submits]");
    if (box && window.matchMedia("(min-width: 900px)").matches) box.focus();
  });
})();
