/**
 * The demo's one page: a button that starts `stream-example` and shows its text
 * as it arrives, then the run's final status. The backend starts the run and
 * hands back a stream URL with a token for that run alone; the page reads it
 * from the gateway as Server-Sent Events (chunk, attempt and end events).
 */
export const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chute streaming demo</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 3rem auto; padding: 0 1rem; color: #1d1d1f; }
  button { font: inherit; padding: .5rem 1.25rem; border-radius: .5rem; border: 1px solid #888; background: #f4f4f6; cursor: pointer; }
  button:disabled { opacity: .5; cursor: default; }
  #output { white-space: pre-wrap; min-height: 10rem; padding: 1rem; border-radius: .5rem; background: #fafafa; border: 1px solid #e5e5e5; }
  #status { font-weight: 600; }
  .meta { color: #666; font-size: .9rem; }
</style>
</head>
<body>
<h1>Streaming from a task</h1>
<p>The button starts a run of <code>stream-example</code>; its text appears here as the task produces it.</p>
<p><button id="start">Start a run</button> <span class="meta">Run: <span id="run">-</span></span> <span class="meta">Status: <span id="status">-</span></span></p>
<div id="output" aria-live="polite"></div>
<script>
const button = document.getElementById('start');
const output = document.getElementById('output');
const status = document.getElementById('status');
const runLabel = document.getElementById('run');
button.addEventListener('click', async () => {
  button.disabled = true;
  output.textContent = '';
  status.textContent = 'starting';
  const response = await fetch('/api/runs', { method: 'POST' });
  if (!response.ok) {
    status.textContent = 'could not start: ' + response.status;
    button.disabled = false;
    return;
  }
  const { runId, streamUrl } = await response.json();
  runLabel.textContent = runId;
  status.textContent = 'RUNNING';
  const events = new EventSource(streamUrl);
  const decoder = new TextDecoder();
  events.addEventListener('chunk', (e) => {
    const chunk = JSON.parse(e.data);
    output.textContent += chunk.encoding === 'base64'
      ? decoder.decode(Uint8Array.from(atob(chunk.data), (c) => c.charCodeAt(0)), { stream: true })
      : chunk.data;
  });
  // A retry starts its text over: show the new attempt's text alone.
  events.addEventListener('attempt', () => { output.textContent = ''; });
  events.addEventListener('end', (e) => {
    status.textContent = JSON.parse(e.data).status;
    events.close();
    button.disabled = false;
  });
  events.onerror = () => {
    if (events.readyState === EventSource.CLOSED) button.disabled = false;
  };
});
</script>
</body>
</html>
`;
