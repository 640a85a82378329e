/**
 * The dashboard's script: plain DOM, no framework. It polls the runs and
 * workers lists, and on a run's page follows its stream over SSE. Everything
 * from the API goes in with textContent, never as HTML. Compiled for the
 * browser by ../script.build-time.ts.
 */
import type { ApiErrorBody, Run, RunList, StreamAttempt, StreamChunk, StreamEnd, StreamToken, TriggeredRun, WorkerList } from './api-types';

const TOKEN_KEY = 'chute.token';
const FINAL: readonly string[] = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT'];

/**
 * The page's element `id`, which html.ts makes a `type`. Looked up once, at
 * load: the page is static, and a page out of step with this script fails at
 * once, by name.
 */
function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return node;
}

/** The elements of html.ts the script reads or fills. */
const page = {
  error: byId('error', HTMLElement),
  tokenForm: byId('token-form', HTMLFormElement),
  token: byId('token', HTMLInputElement),
  tokenState: byId('token-state', HTMLElement),
  forgetToken: byId('forget-token', HTMLButtonElement),
  listView: byId('list-view', HTMLElement),
  filters: byId('filters', HTMLFormElement),
  filterTask: byId('filter-task', HTMLInputElement),
  filterStatus: byId('filter-status', HTMLSelectElement),
  triggerTask: byId('trigger-task', HTMLInputElement),
  triggerInput: byId('trigger-input', HTMLInputElement),
  trigger: byId('trigger', HTMLButtonElement),
  runs: byId('runs', HTMLElement),
  runsEmpty: byId('runs-empty', HTMLElement),
  workers: byId('workers', HTMLElement),
  workersEmpty: byId('workers-empty', HTMLElement),
  runView: byId('run-view', HTMLElement),
  runTask: byId('run-task', HTMLElement),
  runStatus: byId('run-status', HTMLElement),
  cancel: byId('cancel', HTMLButtonElement),
  runFacts: byId('run-facts', HTMLElement),
  streamState: byId('stream-state', HTMLElement),
  stream: byId('stream', HTMLElement),
  resultTitle: byId('result-title', HTMLElement),
  result: byId('result', HTMLElement),
  runInput: byId('run-input', HTMLElement),
};

let timers: number[] = [];
let events: EventSource | null = null;

function token(): string {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  children: ReadonlyArray<Node | string> = [],
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children);
  return node;
}

function showError(message: string): void {
  page.error.textContent = message;
  page.error.hidden = !message;
}

/** An answer of the API other than 2xx, with the status and the API's `code`. */
class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** A fetch to the API with the token, if one is set; throws the API's {code, message} as an ApiError. */
async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (token()) headers.authorization = 'Bearer ' + token();
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = (await response.json().catch(() => null)) as unknown;
  if (!response.ok) {
    const problem = data as Partial<ApiErrorBody> | null;
    throw new ApiError(problem?.message || `${response.status} ${response.statusText}`, response.status, problem?.code);
  }
  return data as T;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function failed(error: unknown): void {
  if (error instanceof ApiError && error.status === 401) showError(`The gateway wants a token: paste one above (${error.message}).`);
  else showError(messageOf(error));
}

function when(iso: string | null): string {
  return iso ? new Date(iso).toLocaleTimeString() : '';
}
function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
}
function duration(run: Run): string {
  if (!run.startedAt) return '';
  const end = run.finishedAt ? Date.parse(run.finishedAt) : Date.now();
  return `${((end - Date.parse(run.startedAt)) / 1000).toFixed(1)} s`;
}
function badge(status: string): HTMLSpanElement {
  return el('span', { className: `status ${status}`, textContent: status });
}

// ---- the list: runs and workers, polled ----

async function loadRuns(): Promise<void> {
  const q = new URLSearchParams({ limit: '50' });
  if (page.filterTask.value.trim()) q.set('task', page.filterTask.value.trim());
  if (page.filterStatus.value) q.set('status', page.filterStatus.value);
  const list = await api<RunList>('GET', `/api/v1/runs?${q.toString()}`);
  page.runs.replaceChildren(
    ...list.runs.map((run) => {
      const tr = el('tr', {}, [
        el('td', {}, [badge(run.status)]),
        el('td', { textContent: run.task }),
        el('td', { className: 'id' }, [el('a', { href: `#/runs/${run.runId}`, textContent: run.runId.slice(0, 8) })]),
        el('td', { textContent: `${run.attempt} / ${run.retries + 1}` }),
        el('td', { textContent: run.workerId || '' }),
        el('td', { textContent: when(run.createdAt) }),
        el('td', { textContent: duration(run) }),
      ]);
      tr.dataset.runId = run.runId;
      tr.dataset.status = run.status;
      return tr;
    }),
  );
  page.runsEmpty.hidden = list.runs.length > 0;
}

async function loadWorkers(): Promise<void> {
  const list = await api<WorkerList>('GET', '/api/v1/workers');
  page.workers.replaceChildren(
    ...list.workers.map((w) => {
      const tr = el('tr', { title: w.workerId }, [
        el('td', { textContent: w.name }),
        el('td', {}, [badge(w.status)]),
        el('td', { textContent: String(w.slots) }),
        el('td', { textContent: w.tasks.join(', ') }),
        el('td', { textContent: ago(w.lastHeartbeatAt) }),
      ]);
      tr.dataset.worker = w.name;
      tr.dataset.status = w.status;
      return tr;
    }),
  );
  page.workersEmpty.hidden = list.workers.length > 0;
}

function every(ms: number, fn: () => Promise<void>): void {
  const tick = (): void => {
    fn().then(() => showError(''), failed);
  };
  tick();
  timers.push(setInterval(tick, ms));
}

async function trigger(): Promise<void> {
  const task = page.triggerTask.value.trim();
  if (!task) return showError('Name the task to trigger.');
  let input: unknown = null;
  if (page.triggerInput.value.trim()) {
    try {
      input = JSON.parse(page.triggerInput.value);
    } catch (error) {
      return showError(`The input is not JSON: ${messageOf(error)}`);
    }
  }
  try {
    const created = await api<TriggeredRun>('POST', `/api/v1/tasks/${encodeURIComponent(task)}/runs`, { input });
    location.hash = `#/runs/${created.runId}`;
  } catch (error) {
    failed(error);
  }
}

// ---- a run's page: its state polled until it ends, its stream over SSE ----

function fact(name: string, value: string): HTMLElement[] {
  return [el('dt', { textContent: name }), el('dd', { textContent: value })];
}

function renderRun(run: Run): void {
  page.runTask.textContent = run.task;
  page.runStatus.className = `status ${run.status}`;
  page.runStatus.textContent = run.status;
  page.cancel.hidden = FINAL.includes(run.status);
  page.runFacts.replaceChildren(
    ...fact('Run', run.runId),
    ...fact('Attempt', `${run.attempt} of ${run.retries + 1}`),
    ...fact('Worker', run.workerId || '-'),
    ...fact('Created', when(run.createdAt)),
    ...fact('Started', when(run.startedAt) || '-'),
    ...fact('Finished', when(run.finishedAt) || '-'),
    ...fact('Duration', duration(run) || '-'),
  );
  page.runInput.textContent = JSON.stringify(run.input, null, 2);
  page.resultTitle.textContent = run.error ? 'Error' : 'Output';
  page.result.textContent = run.error
    ? `${run.error.name}: ${run.error.message}${run.error.stack ? `\n${run.error.stack}` : ''}`
    : !FINAL.includes(run.status)
      ? '(not yet)'
      : JSON.stringify(run.output, null, 2);
}

/**
 * The stream's URL, from its start or after a chunk: with a stream token
 * (EventSource cannot send headers), or bare where auth is off (409).
 */
async function streamUrl(id: string, after: string | null): Promise<string> {
  const url = `/api/v1/runs/${id}/stream?${after ? `after=${encodeURIComponent(after)}` : 'from=start'}`;
  try {
    const minted = await api<StreamToken>('POST', `/api/v1/runs/${id}/stream-token`);
    return `${url}&token=${encodeURIComponent(minted.token)}`;
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) return url;
    throw error;
  }
}

/**
 * Follows the run's stream to its end. EventSource would reconnect by
 * itself, but to the same URL: with from=start the gateway would replay the
 * whole stream again. So a dropped connection is resumed here, after the last
 * chunk shown, with a fresh stream token.
 */
async function follow(id: string): Promise<void> {
  const out = page.stream;
  const decoder = new TextDecoder();
  let last: string | null = null;
  const open = async (): Promise<void> => {
    const url = await streamUrl(id, last);
    if (location.hash !== `#/runs/${id}`) return;
    page.streamState.textContent = '(live)';
    const source = (events = new EventSource(url));
    source.addEventListener('chunk', (e) => {
      const chunk = JSON.parse(e.data as string) as StreamChunk;
      last = e.lastEventId || last;
      out.append(
        chunk.encoding === 'base64'
          ? decoder.decode(Uint8Array.from(atob(chunk.data), (c) => c.charCodeAt(0)), { stream: true })
          : chunk.data,
      );
      out.scrollTop = out.scrollHeight;
    });
    // A retry starts its output over: mark where, and keep the earlier attempt's text above.
    source.addEventListener('attempt', (e) => {
      const { attempt } = JSON.parse(e.data as string) as StreamAttempt;
      out.append(el('div', { className: 'attempt-mark', textContent: `--- attempt ${attempt} ---` }));
    });
    source.addEventListener('end', (e) => {
      const { status } = JSON.parse(e.data as string) as StreamEnd;
      page.streamState.textContent = `(ended ${status})`;
      source.close();
      if (events === source) events = null;
    });
    source.onerror = () => {
      source.close();
      if (events !== source) return;
      page.streamState.textContent = '(reconnecting)';
      setTimeout(() => {
        if (events === source) open().catch(failed);
      }, 1000);
    };
  };
  await open();
}

function showRun(id: string): void {
  page.stream.textContent = '';
  page.streamState.textContent = '';
  const load = async (): Promise<void> => {
    const run = await api<Run>('GET', `/api/v1/runs/${id}`);
    renderRun(run);
    if (FINAL.includes(run.status)) timers.forEach(clearInterval);
  };
  page.cancel.onclick = () => {
    page.cancel.disabled = true;
    void api('POST', `/api/v1/runs/${id}/cancel`)
      .then(load, failed)
      .finally(() => {
        page.cancel.disabled = false;
      });
  };
  every(1000, load);
  follow(id).catch(failed);
}

// ---- routing: #/ the list, #/runs/<id> a run ----

function route(): void {
  timers.forEach(clearInterval);
  timers = [];
  if (events) events.close();
  events = null;
  showError('');
  const runId = /^#\/runs\/([0-9a-f-]{36})$/.exec(location.hash)?.[1];
  page.listView.hidden = runId !== undefined;
  page.runView.hidden = runId === undefined;
  if (runId !== undefined) return showRun(runId);
  every(2000, loadRuns);
  every(5000, loadWorkers);
}

function showTokenState(): void {
  page.tokenState.textContent = token() ? 'token set' : 'no token';
}

page.tokenForm.addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, page.token.value.trim());
  page.token.value = '';
  showTokenState();
  route();
});
page.forgetToken.addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showTokenState();
  route();
});
page.filters.addEventListener('input', (e) => {
  if (e.target instanceof HTMLElement && /^filter-/.test(e.target.id)) loadRuns().catch(failed);
});
page.filters.addEventListener('submit', (e) => e.preventDefault());
page.trigger.addEventListener('click', trigger);
window.addEventListener('hashchange', route);
showTokenState();
route();
