// One POST of a load generator: a JSON body with the user's bearer token on a keep-alive agent, ending exactly once —
// with the answer, a network error (by kind), or the client timeout (the request is then destroyed).
import http from 'node:http';

export type PostResult = { kind: 'answer'; status: number; body: string } | { kind: 'error'; key: string } | { kind: 'timeout' };

/**
 * The generator's keep-alive agent. LIFO reuse and a 4 s idle timeout: sockets left idle are closed by us before
 * uWebSockets.js closes idle keep-alive connections (10 s), so a request never races the server's close (an
 * ECONNRESET on a reused socket would be counted as an error the server did not make).
 */
export function keepAliveAgent(sockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets, scheduling: 'lifo', timeout: 4_000 });
}

export interface PostTarget {
  agent: http.Agent;
  url: URL;
  timeoutMs: number;
}

export function postJson(target: PostTarget, path: string, token: string, payload: string, done: (r: PostResult) => void): void {
  let settled = false;
  const settle = (r: PostResult) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    done(r);
  };
  const req = http.request(
    {
      agent: target.agent,
      host: target.url.hostname,
      port: target.url.port,
      method: 'POST',
      path,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    },
    (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => settle({ kind: 'answer', status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => settle({ kind: 'error', key: `response: ${e.message}` }));
    },
  );
  const timer = setTimeout(() => {
    settle({ kind: 'timeout' });
    req.destroy();
  }, target.timeoutMs);
  req.on('error', (e) => settle({ kind: 'error', key: `request: ${(e as NodeJS.ErrnoException).code ?? e.message}` }));
  req.end(payload);
}
