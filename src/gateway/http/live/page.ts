// The live-handoff browser page at /live/: its HTML, module script, stylesheet and @simplewebauthn/browser's bundle,
// all from this origin under a Content-Security-Policy without inline script or style. WebAuthn cannot display the
// order, so this page shows the stored draft before the user confirms it. The API it calls is ./routes.ts.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { RouteModule } from '../routes.js';
import { LIVE_PAGE_CSS, LIVE_PAGE_HTML } from './page-html.js';
import { LIVE_PAGE_SCRIPT } from './page-script.js';

/** connect-src 'self' covers the same-origin ws:/wss: socket (CSP3 matches ws to http of the same host and port). */
export const LIVE_PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export class LivePageAssetError extends Error {
  readonly code = 'live_page_asset_missing';
}

/**
 * The UMD bundle of @simplewebauthn/browser (it defines globalThis.SimpleWebAuthnBrowser). The package exports only
 * ".", so the file is found from the resolved entry point (<package>/script/index.js); node_modules ships in the image.
 */
export function webauthnBundlePath(): string {
  const entry = createRequire(import.meta.url).resolve('@simplewebauthn/browser');
  return join(dirname(entry), '..', 'dist', 'bundle', 'index.umd.min.js');
}

function loadBundle(): Buffer {
  try {
    return readFileSync(webauthnBundlePath());
  } catch {
    throw new LivePageAssetError('the @simplewebauthn/browser bundle was not found in node_modules: the live page cannot run passkey ceremonies');
  }
}

interface Asset {
  type: string;
  body: string | Buffer;
  cache: string;
}

/** Read once at start-up: a missing bundle stops the gateway rather than serving a page that cannot work. */
export function createLivePageRoutes(): RouteModule {
  const assets: Record<string, Asset> = {
    '/live/': { type: 'text/html; charset=utf-8', body: LIVE_PAGE_HTML, cache: 'no-store' },
    '/live/app.js': { type: 'text/javascript; charset=utf-8', body: LIVE_PAGE_SCRIPT, cache: 'no-cache' },
    '/live/app.css': { type: 'text/css; charset=utf-8', body: LIVE_PAGE_CSS, cache: 'no-cache' },
    '/live/webauthn.js': { type: 'text/javascript; charset=utf-8', body: loadBundle(), cache: 'no-cache' },
  };

  const serve = (asset: Asset) => (res: HttpResponse) => {
    res
      .writeStatus('200 OK')
      .writeHeader('content-type', asset.type)
      .writeHeader('cache-control', asset.cache)
      .writeHeader('content-security-policy', LIVE_PAGE_CSP)
      .writeHeader('x-content-type-options', 'nosniff')
      // The page leads to Alpaca and back; no address of ours (or its query) travels in a Referer.
      .writeHeader('referrer-policy', 'no-referrer')
      .writeHeader('x-frame-options', 'DENY')
      .end(asset.body);
  };

  return {
    register(app: TemplatedApp) {
      app.get('/live', (res) => {
        res.writeStatus('308 Permanent Redirect').writeHeader('location', '/live/').end();
      });
      for (const [path, asset] of Object.entries(assets)) app.get(path, serve(asset));
    },
  };
}
