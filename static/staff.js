// Staff pages' behaviour, as a static file: the Content-Security-Policy
// allows no inline script. Each part acts only where its markup is present.
(function () {
  'use strict';

  // A send job's progress on the batch page, polled until it ends.
  var box = document.getElementById('progress');
  if (box && box.dataset.url) {
    var poll = function () {
      fetch(box.dataset.url, {credentials: 'same-origin'}).then(function (r) { return r.json(); }).then(function (job) {
        var bar = box.querySelector('progress');
        bar.max = job.total || 1; bar.value = job.done;
        box.querySelector('.state').textContent = job.state;
        box.querySelector('.done').textContent = job.done;
        box.querySelector('.total').textContent = job.total;
        box.querySelector('.errors').textContent = job.errors;
        if (job.state === 'queued' || job.state === 'running') { setTimeout(poll, 1000); }
      });
    };
    poll();
  }

  // Print buttons (paper forms, QR posters).
  document.querySelectorAll('[data-print]').forEach(function (button) {
    button.addEventListener('click', function () { window.print(); });
  });
})();
