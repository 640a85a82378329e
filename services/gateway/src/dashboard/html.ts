/**
 * The dashboard's one page. Static: the script fills it from the API. Kept as
 * a string so esbuild bundles it into the gateway's main.js (no files to find
 * at run time, no build step).
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chute</title>
<link rel="stylesheet" href="/dashboard/style.css">
</head>
<body>
<header>
  <a href="#/" class="brand">Chute</a>
  <form id="token-form" autocomplete="off">
    <label for="token">Token</label>
    <input id="token" type="password" placeholder="paste a bearer token (kept for this tab only)">
    <button id="save-token" type="submit">Use</button>
    <button id="forget-token" type="button">Forget</button>
    <span id="token-state" class="muted"></span>
  </form>
</header>
<p id="error" class="error" role="alert" hidden></p>
<main id="list-view">
  <section>
    <h2>Runs</h2>
    <form id="filters" class="row">
      <input id="filter-task" placeholder="task">
      <select id="filter-status">
        <option value="">any status</option>
        <option>QUEUED</option><option>RUNNING</option><option>COMPLETED</option>
        <option>FAILED</option><option>CANCELLED</option><option>TIMED_OUT</option>
      </select>
      <span class="spacer"></span>
      <input id="trigger-task" placeholder="task to trigger">
      <input id="trigger-input" placeholder='input (JSON), e.g. {"ms": 1000}'>
      <button id="trigger" type="button">Trigger</button>
    </form>
    <table>
      <thead><tr><th>Status</th><th>Task</th><th>Run</th><th>Attempt</th><th>Worker</th><th>Created</th><th>Duration</th></tr></thead>
      <tbody id="runs"></tbody>
    </table>
    <p id="runs-empty" class="muted" hidden>No runs.</p>
  </section>
  <section>
    <h2>Workers</h2>
    <table>
      <thead><tr><th>Name</th><th>Status</th><th>Slots</th><th>Tasks</th><th>Last heartbeat</th></tr></thead>
      <tbody id="workers"></tbody>
    </table>
    <p id="workers-empty" class="muted" hidden>No workers.</p>
  </section>
</main>
<main id="run-view" hidden>
  <p><a href="#/">&larr; all runs</a></p>
  <h2><span id="run-task"></span> <span id="run-status" class="status"></span>
    <button id="cancel" type="button" hidden>Cancel</button></h2>
  <dl id="run-facts"></dl>
  <h3>Stream <span id="stream-state" class="muted"></span></h3>
  <pre id="stream" aria-live="polite"></pre>
  <h3 id="result-title">Output</h3>
  <pre id="result"></pre>
  <h3>Input</h3>
  <pre id="run-input"></pre>
</main>
<script src="/dashboard/app.js"></script>
</body>
</html>
`;
