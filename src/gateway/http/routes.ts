// The seam through which HTTP surfaces (SSE, REST, operator endpoints) join the gateway's uWS app.
import type { TemplatedApp } from 'uWebSockets.js';

export interface RouteModule {
  /** Registers the module's routes on the app (called once, before the catch-all 404). */
  register(app: TemplatedApp): void;
}
