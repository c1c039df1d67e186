// The session's work queue: one request at a time, in order, also after it went idle (it then shares one resolved
// promise instead of holding its own), a failed request answers `internal` and the next still runs, and a full
// queue refuses. The hub and socket are never touched by the queue itself, so they are inert here.
import { describe, expect, it } from 'vitest';
import type { HubPort } from '../../../src/gateway/hub-port.js';
import { SocketSession, type SocketIo } from '../../../src/gateway/socket-session.js';

function session(maxQueued = 50) {
  const sent: string[] = [];
  const errors: Array<[string, string]> = [];
  const io: SocketIo = { send: (t) => void sent.push(t), subscribe: () => {}, unsubscribe: () => {} };
  const s = new SocketSession(1, 'user-1', 'pro', 'user', io, {} as HubPort, { actionsPerSecond: 10, maxStrikes: 5, maxQueued }, {
    error: (where, _err, userId) => void errors.push([where, userId]),
  });
  return { s, sent, errors };
}

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('SocketSession queue', () => {
  it('runs requests one at a time in order, before and after it went idle', async () => {
    const { s } = session();
    const log: string[] = [];
    const task = (name: string, ms: number) => async () => {
      log.push(`${name}+`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`${name}-`);
    };
    s.enqueue(task('a', 5));
    s.enqueue(task('b', 1));
    await s.idle();
    expect(log).toEqual(['a+', 'a-', 'b+', 'b-']);
    await tick();
    const idle = s.idle();
    s.enqueue(task('c', 5));
    s.enqueue(task('d', 1));
    await idle; // the idle queue was already settled
    await s.idle();
    expect(log).toEqual(['a+', 'a-', 'b+', 'b-', 'c+', 'c-', 'd+', 'd-']);
  });

  it('a failing request answers internal, is reported with the user, and the next one still runs', async () => {
    const { s, sent, errors } = session();
    let ran = false;
    s.enqueue(async () => {
      throw new Error('boom');
    });
    s.enqueue(async () => {
      ran = true;
    });
    await s.idle();
    expect(ran).toBe(true);
    expect(errors).toEqual([['request', 'user-1']]);
    expect(sent.map((t) => JSON.parse(t) as { code: string }).map((m) => m.code)).toEqual(['internal']);
  });

  it('refuses beyond maxQueued unless forced, and accepts again once drained', async () => {
    const { s } = session(2);
    const slow = () => new Promise<void>((r) => setTimeout(r, 5));
    expect(s.enqueue(slow)).toBe(true);
    expect(s.enqueue(slow)).toBe(true);
    expect(s.enqueue(slow)).toBe(false);
    expect(s.enqueue(slow, true)).toBe(true);
    await s.idle();
    expect(s.enqueue(slow)).toBe(true);
    await s.idle();
  });
});
