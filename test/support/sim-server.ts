// Serves simulator handlers on a loopback port for a test: routes tried in order, upgrades offered in order.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { RouteHandler } from '../../src/sim/http/util.js';

export interface ServedHandlers {
  base: string;
  server: Server;
  close(): Promise<void>;
}

export async function serveHandlers(
  handlers: RouteHandler[],
  upgrades: Array<(req: IncomingMessage, socket: Duplex, head: Buffer) => boolean> = [],
): Promise<ServedHandlers> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    void (async () => {
      for (const h of handlers) if (await h(req, res, url)) return;
      res.writeHead(404).end();
    })().catch(() => res.destroy());
  });
  server.on('upgrade', (req, socket, head) => {
    if (!upgrades.some((u) => u(req, socket, head))) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
