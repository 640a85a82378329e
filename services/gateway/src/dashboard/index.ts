import type { FastifyInstance } from 'fastify';
import { DASHBOARD_HTML } from './html';
import { DASHBOARD_CSS } from './style';

/**
 * The script, loaded at its first request: run from source, loading it
 * compiles it (esbuild, ~60 ms), which every `chute` command would otherwise
 * pay at start whether or not it serves the page. Built, it is a constant.
 */
const dashboardJs = (): string => (require('./script.build-time') as typeof import('./script.build-time')).DASHBOARD_JS;

const FILES: ReadonlyArray<{ url: string; type: string; body: () => string }> = [
  { url: '/', type: 'text/html; charset=utf-8', body: () => DASHBOARD_HTML },
  { url: '/dashboard/app.js', type: 'text/javascript; charset=utf-8', body: dashboardJs },
  { url: '/dashboard/style.css', type: 'text/css; charset=utf-8', body: () => DASHBOARD_CSS },
];

/**
 * Same origin only: the page loads nothing from elsewhere and runs no inline
 * script, so text from a run (shown with textContent anyway) could not run as
 * code even if it got in as HTML. `frame-ancestors` stops clickjacking of the cancel button.
 */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/**
 * The dashboard at `/`: static files, public (the page holds no data; it asks
 * for a token and sends it on each API call, so what it shows is what that token may read).
 */
export function registerDashboard(app: FastifyInstance): void {
  for (const file of FILES) {
    app.get(file.url, { config: { auth: { public: true } }, schema: { hide: true } }, async (_request, reply) =>
      reply
        .type(file.type)
        .header('content-security-policy', CSP)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-cache')
        .send(file.body()),
    );
  }
}
