// The projector page of a 现场测评 session (templates/sessions/projector.html):
// the count of ballots against attendance, refreshed from the session's live
// JSON every two seconds without reloading; once the session is closed and
// its 当场公布 is on, the tally (现场结果). Static file: the CSP allows no
// inline script. Text goes in as textContent only.
(function () {
  'use strict';
  var box = document.getElementById('projector');
  if (!box || !box.dataset.live) { return; }
  var text = function (id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = value; }
  };
  var percent = function (v) { return v === null || v === undefined ? '—' : (v * 100).toFixed(1) + '%'; };
  var cell = function (row, tag, value, cls) {
    var el = document.createElement(tag);
    el.textContent = value;
    if (cls) { el.className = cls; }
    row.appendChild(el);
  };
  var showTally = function (tally) {
    var wrap = document.getElementById('tally');
    var table = document.getElementById('tally-table');
    if (!tally) { wrap.hidden = true; return; }
    var head = table.tHead, body = table.tBodies[0];
    head.textContent = ''; body.textContent = '';
    var hr = document.createElement('tr');
    cell(hr, 'th', table.dataset.labelUnit);
    cell(hr, 'th', table.dataset.labelN, 'num');
    cell(hr, 'th', table.dataset.labelScore, 'num');
    tally.options.forEach(function (o) { cell(hr, 'th', o.label, 'num'); });
    head.appendChild(hr);
    tally.units.forEach(function (u) {
      var tr = document.createElement('tr');
      tr.dataset.unit = u.code;
      cell(tr, 'td', u.name);
      cell(tr, 'td', String(u.n), 'num');
      cell(tr, 'td', u.score === null ? '—' : u.score.toFixed(2), 'num score');
      tally.options.forEach(function (o) {
        cell(tr, 'td', percent(u.shares ? u.shares[o.code] : null), 'num share-' + o.code);
      });
      body.appendChild(tr);
    });
    wrap.hidden = false;
  };
  var poll = function () {
    fetch(box.dataset.live, {credentials: 'same-origin', headers: {'Accept': 'application/json'}, cache: 'no-store'})
      .then(function (r) { return r.json(); })
      .then(function (live) {
        box.dataset.state = live.state;
        document.querySelectorAll('[data-testid="projector-state"]').forEach(function (el) { el.textContent = live.label; });
        text('live-returned', live.returned);
        text('live-expected', live.expected);
        showTally(live.tally);
      })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { setTimeout(poll, 2000); });
  };
  poll();
}());
