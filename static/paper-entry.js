// Keying a paper form from the keyboard (templates/distribution/paper_entry.html),
// as a static file: the Content-Security-Policy allows no inline script.
// Without JavaScript the page is plain radio buttons and works the same.
// In a row (a margin question, a unit's item): a digit picks its option
// (0 = 未填, 1..n = the scale in order) and moves to the next row; Enter
// moves to the next row without submitting; Tab moves on as usual.
(function () {
  'use strict';

  var form = document.querySelector('[data-paper-entry]');
  if (!form) { return; }
  var rows = Array.prototype.slice.call(form.querySelectorAll('[data-row]'));

  var radiosOf = function (row) { return row.querySelectorAll('input[type=radio]'); };

  var focusRow = function (index) {
    if (index >= rows.length) {
      var after = form.querySelector('textarea, button[type=submit]');
      if (after) { after.focus(); }
      return;
    }
    var radios = radiosOf(rows[index]);
    var checked = rows[index].querySelector('input[type=radio]:checked');
    (checked || radios[0]).focus();
  };

  form.addEventListener('keydown', function (event) {
    var target = event.target;
    if (!target || target.type !== 'radio' || event.altKey || event.ctrlKey || event.metaKey) { return; }
    var row = target.closest('[data-row]');
    var index = rows.indexOf(row);
    if (index < 0) { return; }
    if (event.key === 'Enter') {
      event.preventDefault();
      focusRow(index + 1);
      return;
    }
    if (/^[0-9]$/.test(event.key)) {
      var radios = radiosOf(row);
      var pick = radios[parseInt(event.key, 10)];
      event.preventDefault();
      if (!pick) { return; }  // no such option on this scale
      pick.checked = true;
      pick.dispatchEvent(new Event('change', {bubbles: true}));
      focusRow(index + 1);
    }
  });

  // The first row ready for keys.
  if (rows.length) { focusRow(0); }
})();
