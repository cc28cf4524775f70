// The ballot form, better with JavaScript: a live progress indicator and
// autosave of the draft as the evaluator goes. The form works without it.
(function () {
  "use strict";
  var form = document.getElementById("ballot-form");
  if (!form) return;
  var status = document.getElementById("save-status");
  var answered = document.querySelector("[data-answered]");
  var bar = document.querySelector("#progress progress");
  var ownUnit = form.querySelector("select[name=own_unit]");
  var timer = null, saving = false, pending = false, stopped = false, delay = 800;

  function units() {
    return Array.prototype.filter.call(form.querySelectorAll(".unit"), function (card) {
      return !card.hidden;
    });
  }

  function progress() {
    var list = units(), done = 0;
    list.forEach(function (card) {
      var sets = card.querySelectorAll("fieldset");
      var all = Array.prototype.every.call(sets, function (fs) {
        return fs.querySelector("input:checked") !== null;
      });
      if (all) done += 1;
    });
    if (answered) answered.textContent = String(done);
    if (bar) { bar.max = list.length; bar.value = done; }
  }

  function hideOwnUnit() {
    if (!ownUnit) return;
    form.querySelectorAll(".unit").forEach(function (card) {
      var own = card.getAttribute("data-unit") === ownUnit.value;
      card.hidden = own;
      if (own) {
        // A hidden unit must not send answers: the server would refuse them.
        card.querySelectorAll("input:checked").forEach(function (i) { i.checked = false; });
        card.querySelectorAll("textarea").forEach(function (t) { t.value = ""; });
      }
    });
    progress();
  }

  function save() {
    if (saving) { pending = true; return; }
    saving = true;
    var data = new FormData(form);
    fetch(form.getAttribute("data-draft-url"), {
      method: "POST", body: data, credentials: "same-origin", keepalive: true,
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      if (response.status === 409 || response.status === 410 || response.status === 403) {
        // Submitted in another tab, or closed: nothing more to save; the
        // next page load says why.
        status.textContent = form.getAttribute("data-stopped-text");
        stopped = true;
        return null;
      }
      if (!response.ok) throw new Error(String(response.status));
      return response.json();
    }).then(function (answer) {
      if (answer === null) return;
      status.textContent = form.getAttribute("data-saved-text");
      form.setAttribute("data-saved", String(Date.now()));
      delay = 800;
    }).catch(function () {
      status.textContent = form.getAttribute("data-offline-text");
      // Retry with growing pauses: a dropped connection on a phone comes back.
      delay = Math.min(delay * 2, 30000);
      schedule();
    }).then(function () {
      saving = false;
      if (pending) { pending = false; schedule(); }
    });
  }

  function schedule() {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(save, delay);
  }

  form.addEventListener("change", function (event) {
    if (event.target === ownUnit) hideOwnUnit();
    progress();
    schedule();
  });
  form.addEventListener("input", function (event) {
    if (event.target.tagName === "TEXTAREA") schedule();
  });
  window.addEventListener("online", schedule);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden" && timer !== null) { clearTimeout(timer); save(); }
  });
  hideOwnUnit();
  progress();
})();
