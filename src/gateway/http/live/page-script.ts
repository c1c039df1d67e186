// The live-handoff page's ES module (served as /live/app.js): plain browser JavaScript, no build step. It calls the
// /api/live endpoints, runs the passkey ceremonies through @simplewebauthn/browser (the UMD bundle at /live/webauthn.js
// defines globalThis.SimpleWebAuthnBrowser), shows the stored order draft before the user confirms it and follows
// the order's trade updates on the private WebSocket channel (polling the order is the fallback).
// Kept as a string so it ships in the compiled build; it must hold no backtick, dollar-brace or backslash (the
// template literal would end or eat them).

export const LIVE_PAGE_SCRIPT = `// Raxx Stream: the live-handoff page.
const $ = (id) => document.getElementById(id);
const TERMINAL = new Set(['filled', 'canceled', 'expired', 'rejected', 'failed']);
// Step-up options live 120 s on the server; older ones are replaced by fresh ones before the ceremony.
const OPTIONS_MAX_AGE_MS = 90000;
const CALLBACK_ERRORS = {
  oauth_state_invalid: 'the authorization was not started from this session, expired or was already used: connect again',
  oauth_exchange_failed: 'Alpaca did not issue a token (denied or unavailable): nothing was connected',
  kms_unavailable: 'the key service is unavailable: nothing was stored; try again shortly',
  live_disabled: 'live trading is switched off right now',
  step_up_required: 'confirm with your passkey first',
};

const state = { user: null, order: null, stepUp: null, stepUpAt: 0, ws: null, wsTimer: null, wsDelay: 1000, lastSeq: 0, poll: null };

class UiError extends Error {
  constructor(code, message, extra) {
    super(message);
    this.code = code;
    this.extra = extra || {};
  }
}

// ---- output ----

function log(text) {
  const li = document.createElement('li');
  li.textContent = new Date().toLocaleTimeString() + '  ' + text;
  $('log').prepend(li);
}

function notice(text) {
  const el = $('notice');
  el.textContent = text;
  el.hidden = false;
  log(text);
}

function showError(code, message) {
  const el = $('error');
  el.textContent = code + ': ' + message;
  el.dataset.code = code;
  el.hidden = false;
  log('error ' + code + ': ' + message);
}

function clearMessages() {
  $('notice').hidden = true;
  $('error').hidden = true;
  delete $('error').dataset.code;
}

function setText(id, text) {
  $(id).textContent = text === undefined || text === null || text === '' ? '—' : String(text);
}

// ---- HTTP ----

async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new UiError('network_error', 'the gateway did not answer');
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const code = (data && (data.code || data.error)) || 'http_' + res.status;
    const message = (data && data.message) || res.statusText || 'request failed';
    throw new UiError(code, message, Object.assign({ status: res.status }, data));
  }
  return data;
}

// ---- passkey ceremonies (the browser's errors, e.g. NotAllowedError, keep their DOM name as the code) ----

function webauthn() {
  const lib = globalThis.SimpleWebAuthnBrowser;
  if (!lib) throw new UiError('webauthn_unavailable', 'the WebAuthn library did not load');
  return lib;
}

async function ceremony(run) {
  try {
    return await run(webauthn());
  } catch (err) {
    if (err instanceof UiError) throw err;
    const cause = err && err.cause;
    const code = (cause && cause.name) || (err && err.name) || 'webauthn_error';
    const message = (err && err.message) || 'the passkey ceremony failed';
    throw new UiError(code, message + ' (nothing was sent to the server)');
  }
}

// ---- status ----

function gateText(gate, override) {
  if (override) return 'bypassed by an operator override';
  if (!gate) return 'no paper account';
  if (gate.passes) return 'passed (' + gate.settledCycles + ' of ' + gate.requiredCycles + ' cycles)';
  return 'not passed: ' + gate.missing.map((m) => m.message).join('; ');
}

function connectionText(c) {
  if (!c) return 'not connected';
  let text = 'connected (' + c.scopes + ') since ' + new Date(c.issued_at).toLocaleString();
  if (c.needs_reauth) text += ' — needs to be connected again';
  return text;
}

function renderStatus(s) {
  setText('st-user', state.user || 'signed in');
  setText('st-tier', s.tier);
  setText('st-mode', s.mode);
  setText('st-eligible', s.eligible ? 'yes' : 'no — ' + s.code + ': ' + s.message);
  setText('st-kill', s.kill_switch ? 'ON: live trading is disabled' : 'off');
  setText('st-gate', gateText(s.gate, s.override));
  setText('st-passkey', s.passkey ? 'registered' : 'none');
  setText('st-fresh', s.fresh_step_up ? 'yes (valid for five minutes)' : 'no');
  setText('st-connection', connectionText(s.connection));
  document.body.dataset.connected = s.connection ? '1' : '0';
  document.body.dataset.passkey = s.passkey ? '1' : '0';
}

async function loadStatus() {
  try {
    const s = await api('GET', '/api/live/status');
    $('signin').hidden = true;
    renderStatus(s);
    openSocket();
    return s;
  } catch (err) {
    if (err instanceof UiError && err.code === 'unauthorized') {
      $('signin').hidden = false;
      setText('st-user', 'not signed in');
      return null;
    }
    throw err;
  }
}

// ---- private events: the user's channel on /ws (cookie session, same origin) ----

function openSocket() {
  if (state.ws) return;
  const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
  state.ws = ws;
  ws.addEventListener('open', () => {
    state.wsDelay = 1000;
    setText('st-socket', 'connected');
    document.body.dataset.socket = 'open';
    // After a reconnect, ask for what was missed while away.
    if (state.lastSeq > 0) ws.send(JSON.stringify({ action: 'resume_events', after: state.lastSeq }));
  });
  ws.addEventListener('message', (ev) => {
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (!msg || Array.isArray(msg)) return;
    if (typeof msg.seq === 'number' && msg.seq > state.lastSeq) state.lastSeq = msg.seq;
    if (msg.T === 'event' && msg.kind === 'live.trade_update') onTradeUpdate(msg.data, 'websocket');
  });
  ws.addEventListener('close', (ev) => {
    state.ws = null;
    document.body.dataset.socket = 'closed';
    setText('st-socket', 'disconnected (' + ev.code + '), reconnecting');
    clearTimeout(state.wsTimer);
    state.wsTimer = setTimeout(openSocket, state.wsDelay);
    state.wsDelay = Math.min(state.wsDelay * 2, 30000);
  });
}

// ---- orders ----

function setOrder(order) {
  // A late answer must not move the display back: keep the most recently updated copy of the same order.
  if (state.order && state.order.id === order.id && state.order.updated_at > order.updated_at) return;
  state.order = order;
  setText('order-id', order.id);
  setText('order-status', order.status);
  setText('order-broker-status', order.broker_status);
  const filled = Number(order.filled_qty) > 0 ? decimal(order.filled_qty) + ' @ ' + decimal(order.filled_avg_price) : '';
  setText('order-filled', filled);
  $('order-status').dataset.status = order.status;
}

/** A stored decimal without its padding zeros ("1.00000000" → "1"); the digits themselves are never rounded. */
function decimal(v) {
  const t = String(v);
  if (!t.includes('.')) return t;
  const trimmed = t.replace(/0+$/, '');
  return trimmed.endsWith('.') ? trimmed.slice(0, -1) : trimmed;
}

function describe(d) {
  let text = d.side.toUpperCase() + ' ' + d.qty + ' ' + d.symbol;
  text += d.type === 'limit' ? ' at limit ' + d.limit_price : ' at market';
  return text + ', time in force ' + d.time_in_force;
}

function showDraft(order) {
  const d = order.draft;
  setText('draft-summary', describe(d));
  setText('draft-symbol', d.symbol);
  setText('draft-side', d.side);
  setText('draft-qty', d.qty);
  setText('draft-type', d.type);
  setText('draft-limit', d.limit_price);
  setText('draft-tif', d.time_in_force);
  setText('draft-coid', order.client_order_id);
  $('review-panel').hidden = false;
}

function draftFromForm() {
  const d = {
    symbol: $('f-symbol').value.trim().toUpperCase(),
    side: $('f-side').value,
    qty: $('f-qty').value.trim(),
    type: $('f-type').value,
    time_in_force: $('f-tif').value,
  };
  if (d.type === 'limit') d.limit_price = $('f-limit').value.trim();
  return d;
}

function onTradeUpdate(data, via) {
  if (!data || !data.order) return;
  log('trade update "' + data.event + '" for ' + data.order.id + ' via ' + via);
  if (state.order && state.order.id === data.order.id) setOrder(data.order);
  if (data.event === 'fill' || data.event === 'partial_fill') {
    const li = document.createElement('li');
    li.dataset.via = via;
    li.dataset.order = data.order.id;
    li.dataset.event = data.event;
    li.textContent = data.event + ': ' + data.qty + ' ' + data.order.draft.symbol + ' @ ' + data.price + ' (order ' + data.order.id + ', via ' + via + ')';
    $('fills').append(li);
  }
}

/** The fallback when the socket misses an update: the order row follows the broker too. */
function pollOrder(id) {
  clearTimeout(state.poll);
  const started = Date.now();
  const tick = async () => {
    if (!state.order || state.order.id !== id || TERMINAL.has(state.order.status) || Date.now() - started > 120000) return;
    try {
      setOrder(await api('GET', '/api/live/orders/' + encodeURIComponent(id)));
    } catch (err) {
      log('polling the order failed: ' + (err.code || err.name));
    }
    state.poll = setTimeout(tick, 2000);
  };
  state.poll = setTimeout(tick, 2000);
}

// ---- actions ----

async function signIn(ev) {
  ev.preventDefault();
  const user = $('signin-user').value.trim();
  await api('POST', '/dev/token', { user });
  state.user = user;
  notice('signed in as ' + user);
  await loadStatus();
}

/** Options from the server, the browser's ceremony, its response back: registration (/passkeys) and step-up. */
async function passkeyRound(path, start, done) {
  const optionsJSON = await api('POST', path + '/options');
  const response = await ceremony((lib) => lib[start]({ optionsJSON }));
  await api('POST', path, { response });
  notice(done);
  await loadStatus();
}

const registerPasskey = () => passkeyRound('/api/live/passkeys', 'startRegistration', 'passkey registered');
const stepUp = () => passkeyRound('/api/live/step-up', 'startAuthentication', 'confirmed with your passkey');

async function connectAlpaca() {
  const r = await api('POST', '/api/live/connect');
  log('going to Alpaca to authorize');
  location.assign(r.authorizeUrl);
}

async function disconnect() {
  const r = await api('POST', '/api/live/disconnect');
  notice(r.revoked ? 'Alpaca disconnected' : 'there was no Alpaca connection');
  await loadStatus();
}

async function review(ev) {
  ev.preventDefault();
  $('review-panel').hidden = true;
  const r = await api('POST', '/api/live/orders', { draft: draftFromForm() });
  state.stepUp = r.stepUp;
  state.stepUpAt = Date.now();
  setOrder(r.order);
  showDraft(r.order);
  notice('order drafted: check it, then submit it with your passkey');
}

async function submitOrder() {
  const order = state.order;
  if (!order || order.status !== 'draft') throw new UiError('draft_not_found', 'review an order first');
  let optionsJSON = state.stepUp;
  if (!optionsJSON || Date.now() - state.stepUpAt > OPTIONS_MAX_AGE_MS) {
    optionsJSON = await api('POST', '/api/live/orders/' + encodeURIComponent(order.id) + '/step-up');
  }
  state.stepUp = null; // one ceremony per challenge: a retry asks for a new one
  const assertion = await ceremony((lib) => lib.startAuthentication({ optionsJSON }));
  let r;
  try {
    r = await api('POST', '/api/live/orders/' + encodeURIComponent(order.id) + '/submit', { assertion });
  } catch (err) {
    if (err instanceof UiError && err.extra.order) setOrder(err.extra.order);
    throw err;
  }
  setOrder(r.order);
  $('review-panel').hidden = true;
  pollOrder(order.id);
  // 202 broker_in_doubt: sent but unconfirmed; the server reconciles it by client_order_id (never submit it again).
  if (r.code) showError(r.code, r.message);
  else notice('live order sent: ' + state.order.status);
}

async function discard() {
  const order = state.order;
  $('review-panel').hidden = true;
  state.stepUp = null;
  if (!order || order.status !== 'draft') return;
  const r = await api('DELETE', '/api/live/orders/' + encodeURIComponent(order.id));
  if (r.order) setOrder(r.order);
  notice('draft discarded');
}

/** One action at a time; its failure is shown with its code and message. */
function action(fn) {
  return async (ev) => {
    if (document.body.dataset.busy === '1') {
      if (ev && ev.preventDefault) ev.preventDefault();
      return;
    }
    document.body.dataset.busy = '1';
    clearMessages();
    try {
      await fn(ev);
    } catch (err) {
      if (err instanceof UiError) showError(err.code, err.message);
      else showError((err && err.name) || 'error', (err && err.message) || String(err));
    } finally {
      document.body.dataset.busy = '0';
    }
  };
}

function onTypeChange() {
  const limit = $('f-type').value === 'limit';
  $('f-limit').disabled = !limit;
  $('f-limit').required = limit;
}

// ---- start ----

$('signin-form').addEventListener('submit', action(signIn));
$('refresh').addEventListener('click', action(loadStatus));
$('register').addEventListener('click', action(registerPasskey));
$('step-up').addEventListener('click', action(stepUp));
$('connect').addEventListener('click', action(connectAlpaca));
$('disconnect').addEventListener('click', action(disconnect));
$('order-form').addEventListener('submit', action(review));
$('submit-order').addEventListener('click', action(submitOrder));
$('discard-order').addEventListener('click', action(discard));
$('f-type').addEventListener('change', onTypeChange);
onTypeChange();

// Back from Alpaca: the gateway's callback redirected here with the outcome; the query is dropped from the address bar.
const params = new URLSearchParams(location.search);
const back = { connected: params.get('connected'), error: params.get('error') };
if (back.connected !== null || back.error !== null) history.replaceState(null, '', location.pathname);

action(async () => {
  await loadStatus();
  if (back.connected === '1') notice('Alpaca connected: live orders go to your Alpaca account');
  if (back.error) showError(back.error, CALLBACK_ERRORS[back.error] || 'connecting Alpaca failed');
  document.body.dataset.ready = '1';
})();
`;
