/** The dashboard's stylesheet (see html.ts for why it is a string). */
export const DASHBOARD_CSS = `
:root { color-scheme: light dark; --muted: #888; --line: #8884; font: 14px/1.4 system-ui, sans-serif; }
body { margin: 0; }
header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; font-size: 1.2rem; text-decoration: none; color: inherit; }
main { padding: 0 1rem 2rem; }
form { display: flex; gap: .4rem; align-items: center; }
.row { margin-bottom: .5rem; flex-wrap: wrap; }
.spacer { flex: 1; }
input, select, button { font: inherit; padding: .2rem .4rem; }
#token { width: 22rem; }
#trigger-input { width: 14rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25rem .6rem .25rem 0; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.id { font-family: ui-monospace, monospace; }
.muted { color: var(--muted); }
.error { margin: .5rem 1rem; padding: .4rem .6rem; background: #c003; border-radius: 4px; }
.status { font-size: .8rem; font-weight: 600; padding: .1rem .4rem; border-radius: 3px; background: #8883; }
.status.COMPLETED { background: #2a63; } .status.RUNNING { background: #26c4; }
.status.FAILED, .status.TIMED_OUT { background: #c335; } .status.CANCELLED { background: #c805; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dt { color: var(--muted); } dd { margin: 0; }
pre { background: #8881; padding: .6rem; border-radius: 4px; white-space: pre-wrap; word-break: break-word; max-height: 28rem; overflow: auto; }
.attempt-mark { color: var(--muted); }
`;
