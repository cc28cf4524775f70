// Staff pages' behaviour, as a static file: the Content-Security-Policy
// allows no inline script. Each part acts only where its markup is present.
(function () {
  'use strict';

  // A batch's sending on its page: the job's state in words, its colour, the
  // counters, refreshed from the batch's status (JSON) while a job is active.
  var box = document.getElementById('progress');
  if (box && box.dataset.status) {
    var set = function (selector, text) {
      document.querySelectorAll(selector).forEach(function (el) { el.textContent = text; });
    };
    var poll = function () {
      fetch(box.dataset.status, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
        .then(function (r) { return r.json(); })
        .then(function (status) {
          Object.keys(status.delivery).forEach(function (state) {
            set('[data-count="' + state + '"]', status.delivery[state]);
          });
          set('[data-count="returned"]', status.returned);
          var job = status.job;
          if (job) {
            box.className = 'card tone-' + job.tone;
            var bar = box.querySelector('progress');
            if (bar) { bar.max = job.total || 1; bar.value = job.done; }
            set('#progress .state-label', job.label);
            set('#progress .done', job.done);
            set('#progress .total', job.total === null ? '?' : job.total);
            set('#progress .errors', job.errors);
            set('#progress .reason', job.reason);
          }
          if (job && (job.state === 'queued' || job.state === 'running')) {
            box.dataset.active = '1';
            setTimeout(poll, 1500);
          } else if (box.dataset.active === '1') {
            window.location.reload();  // the job ended: the failures' table and the buttons change
          }
        });
    };
    if (box.dataset.active === '1') { setTimeout(poll, 1000); }
  }

  // Forms whose action cannot be undone ask first, in a dialog; without
  // JavaScript the server's confirmation page asks (survey.web.unconfirmed).
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (form.querySelector('input[name="confirmed"]')) { return; }
      event.preventDefault();
      var dialog = document.createElement('dialog');
      dialog.className = 'confirm';
      dialog.setAttribute('aria-modal', 'true');
      var text = document.createElement('p');
      text.id = 'confirm-text';
      text.textContent = form.dataset.confirm;
      dialog.setAttribute('aria-labelledby', 'confirm-text');
      var row = document.createElement('p');
      row.className = 'confirm-actions';
      var yes = document.createElement('button');
      yes.type = 'button';
      yes.textContent = form.dataset.confirmYes;
      var no = document.createElement('button');
      no.type = 'button';
      no.className = 'secondary';
      no.textContent = form.dataset.confirmNo;
      row.appendChild(yes);
      row.appendChild(no);
      dialog.appendChild(text);
      dialog.appendChild(row);
      document.body.appendChild(dialog);
      no.addEventListener('click', function () { dialog.close(); });
      dialog.addEventListener('close', function () { dialog.remove(); });
      yes.addEventListener('click', function () {
        var mark = document.createElement('input');
        mark.type = 'hidden';
        mark.name = 'confirmed';
        mark.value = '1';
        form.appendChild(mark);
        yes.disabled = true;
        form.submit();
      });
      dialog.showModal();
      no.focus();
    });
  });

  // Print buttons (paper forms, QR posters).
  document.querySelectorAll('[data-print]').forEach(function (button) {
    button.addEventListener('click', function () { window.print(); });
  });
})();
