/**
 * The dashboard's script: plain DOM, no framework, no build. It polls the
 * runs and workers lists, and on a run's page follows its stream over SSE.
 * Everything from the API goes in with textContent, never as HTML. Kept as a
 * string (see html.ts); it uses no template literals, so it needs no escaping.
 */
export const DASHBOARD_JS = String.raw`'use strict';
(function () {
  var TOKEN_KEY = 'chute.token';
  var FINAL = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT'];
  var $ = function (id) { return document.getElementById(id); };
  var timers = [];
  var events = null;

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }

  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (k) { node[k] = props[k]; });
    (children || []).forEach(function (c) { node.append(c); });
    return node;
  }

  function showError(message) {
    $('error').textContent = message;
    $('error').hidden = !message;
  }

  /** A fetch to the API with the token, if one is set; throws the API's {code, message} as an Error. */
  async function api(method, path, body) {
    var headers = {};
    if (token()) headers.authorization = 'Bearer ' + token();
    if (body !== undefined) headers['content-type'] = 'application/json';
    var response = await fetch(path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) });
    var data = await response.json().catch(function () { return null; });
    if (!response.ok) {
      var error = new Error((data && data.message) || response.status + ' ' + response.statusText);
      error.status = response.status;
      error.code = data && data.code;
      throw error;
    }
    return data;
  }

  function failed(error) {
    if (error.status === 401) showError('The gateway wants a token: paste one above (' + error.message + ').');
    else showError(error.message);
  }

  function when(iso) { return iso ? new Date(iso).toLocaleTimeString() : ''; }
  function ago(iso) {
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    return s < 60 ? s + ' s ago' : Math.round(s / 60) + ' min ago';
  }
  function duration(run) {
    if (!run.startedAt) return '';
    var end = run.finishedAt ? Date.parse(run.finishedAt) : Date.now();
    return ((end - Date.parse(run.startedAt)) / 1000).toFixed(1) + ' s';
  }
  function badge(status) { return el('span', { className: 'status ' + status, textContent: status }); }

  // ---- the list: runs and workers, polled ----

  async function loadRuns() {
    var q = new URLSearchParams({ limit: '50' });
    if ($('filter-task').value.trim()) q.set('task', $('filter-task').value.trim());
    if ($('filter-status').value) q.set('status', $('filter-status').value);
    var page = await api('GET', '/api/v1/runs?' + q);
    $('runs').replaceChildren.apply($('runs'), page.runs.map(function (run) {
      var tr = el('tr', {}, [
        el('td', {}, [badge(run.status)]),
        el('td', { textContent: run.task }),
        el('td', { className: 'id' }, [el('a', { href: '#/runs/' + run.runId, textContent: run.runId.slice(0, 8) })]),
        el('td', { textContent: run.attempt + ' / ' + (run.retries + 1) }),
        el('td', { textContent: run.workerId || '' }),
        el('td', { textContent: when(run.createdAt) }),
        el('td', { textContent: duration(run) }),
      ]);
      tr.dataset.runId = run.runId;
      tr.dataset.status = run.status;
      return tr;
    }));
    $('runs-empty').hidden = page.runs.length > 0;
  }

  async function loadWorkers() {
    var list = await api('GET', '/api/v1/workers');
    $('workers').replaceChildren.apply($('workers'), list.workers.map(function (w) {
      var tr = el('tr', { title: w.workerId }, [
        el('td', { textContent: w.name }),
        el('td', {}, [badge(w.status)]),
        el('td', { textContent: String(w.slots) }),
        el('td', { textContent: w.tasks.join(', ') }),
        el('td', { textContent: ago(w.lastHeartbeatAt) }),
      ]);
      tr.dataset.worker = w.name;
      tr.dataset.status = w.status;
      return tr;
    }));
    $('workers-empty').hidden = list.workers.length > 0;
  }

  function every(ms, fn) {
    var tick = function () { fn().then(function () { showError(''); }, failed); };
    tick();
    timers.push(setInterval(tick, ms));
  }

  async function trigger() {
    var task = $('trigger-task').value.trim();
    if (!task) return showError('Name the task to trigger.');
    var input = null;
    if ($('trigger-input').value.trim()) {
      try { input = JSON.parse($('trigger-input').value); } catch (e) { return showError('The input is not JSON: ' + e.message); }
    }
    try {
      var created = await api('POST', '/api/v1/tasks/' + encodeURIComponent(task) + '/runs', { input: input });
      location.hash = '#/runs/' + created.runId;
    } catch (error) { failed(error); }
  }

  // ---- a run's page: its state polled until it ends, its stream over SSE ----

  function fact(name, value) { return [el('dt', { textContent: name }), el('dd', { textContent: value })]; }

  function renderRun(run) {
    $('run-task').textContent = run.task;
    $('run-status').className = 'status ' + run.status;
    $('run-status').textContent = run.status;
    $('cancel').hidden = FINAL.indexOf(run.status) >= 0;
    $('run-facts').replaceChildren.apply($('run-facts'), [].concat(
      fact('Run', run.runId), fact('Attempt', run.attempt + ' of ' + (run.retries + 1)), fact('Worker', run.workerId || '-'),
      fact('Created', when(run.createdAt)), fact('Started', when(run.startedAt) || '-'), fact('Finished', when(run.finishedAt) || '-'),
      fact('Duration', duration(run) || '-')));
    $('run-input').textContent = JSON.stringify(run.input, null, 2);
    $('result-title').textContent = run.error ? 'Error' : 'Output';
    $('result').textContent = run.error
      ? run.error.name + ': ' + run.error.message + (run.error.stack ? '\n' + run.error.stack : '')
      : FINAL.indexOf(run.status) < 0 ? '(not yet)' : JSON.stringify(run.output, null, 2);
  }

  /**
   * The stream's URL, from its start or after a chunk: with a stream token
   * (EventSource cannot send headers), or bare where auth is off (409).
   */
  async function streamUrl(id, after) {
    var url = '/api/v1/runs/' + id + '/stream?' + (after ? 'after=' + encodeURIComponent(after) : 'from=start');
    try {
      var minted = await api('POST', '/api/v1/runs/' + id + '/stream-token');
      return url + '&token=' + encodeURIComponent(minted.token);
    } catch (error) {
      if (error.status === 409) return url;
      throw error;
    }
  }

  /**
   * Follows the run's stream to its end. EventSource would reconnect by
   * itself, but to the same URL: with from=start the gateway would replay the
   * whole stream again. So a dropped connection is resumed here, after the last
   * chunk shown, with a fresh stream token.
   */
  async function follow(id) {
    var out = $('stream');
    var decoder = new TextDecoder();
    var last = null;
    var open = async function () {
      var url = await streamUrl(id, last);
      if (location.hash !== '#/runs/' + id) return;
      $('stream-state').textContent = '(live)';
      var source = events = new EventSource(url);
      source.addEventListener('chunk', function (e) {
        var chunk = JSON.parse(e.data);
        last = e.lastEventId || last;
        out.append(chunk.encoding === 'base64'
          ? decoder.decode(Uint8Array.from(atob(chunk.data), function (c) { return c.charCodeAt(0); }), { stream: true })
          : chunk.data);
        out.scrollTop = out.scrollHeight;
      });
      // A retry starts its output over: mark where, and keep the earlier attempt's text above.
      source.addEventListener('attempt', function (e) {
        out.append(el('div', { className: 'attempt-mark', textContent: '--- attempt ' + JSON.parse(e.data).attempt + ' ---' }));
      });
      source.addEventListener('end', function (e) {
        $('stream-state').textContent = '(ended ' + JSON.parse(e.data).status + ')';
        source.close();
        if (events === source) events = null;
      });
      source.onerror = function () {
        source.close();
        if (events !== source) return;
        $('stream-state').textContent = '(reconnecting)';
        setTimeout(function () { if (events === source) open().catch(failed); }, 1000);
      };
    };
    await open();
  }

  function showRun(id) {
    $('stream').textContent = '';
    $('stream-state').textContent = '';
    $('cancel').onclick = function () {
      $('cancel').disabled = true;
      api('POST', '/api/v1/runs/' + id + '/cancel').then(load, failed).finally(function () { $('cancel').disabled = false; });
    };
    var load = async function () {
      var run = await api('GET', '/api/v1/runs/' + id);
      renderRun(run);
      if (FINAL.indexOf(run.status) >= 0) timers.forEach(clearInterval);
    };
    every(1000, load);
    follow(id).catch(failed);
  }

  // ---- routing: #/ the list, #/runs/<id> a run ----

  function route() {
    timers.forEach(clearInterval);
    timers = [];
    if (events) events.close();
    events = null;
    showError('');
    var match = /^#\/runs\/([0-9a-f-]{36})$/.exec(location.hash);
    $('list-view').hidden = !!match;
    $('run-view').hidden = !match;
    if (match) return showRun(match[1]);
    every(2000, loadRuns);
    every(5000, loadWorkers);
  }

  function showTokenState() { $('token-state').textContent = token() ? 'token set' : 'no token'; }

  $('token-form').addEventListener('submit', function (e) {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim());
    $('token').value = '';
    showTokenState();
    route();
  });
  $('forget-token').addEventListener('click', function () { sessionStorage.removeItem(TOKEN_KEY); showTokenState(); route(); });
  $('filters').addEventListener('input', function (e) { if (/^filter-/.test(e.target.id)) loadRuns().catch(failed); });
  $('filters').addEventListener('submit', function (e) { e.preventDefault(); });
  $('trigger').addEventListener('click', trigger);
  window.addEventListener('hashchange', route);
  showTokenState();
  route();
})();
`;
