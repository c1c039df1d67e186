// The live-handoff page's markup and stylesheet, kept as strings so they ship inside the compiled build (dist/ holds
// only what tsc emits). No inline script, style or event handler: the page runs under script-src/style-src 'self'.

export const LIVE_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Raxx Stream — live trading</title>
  <link rel="stylesheet" href="/live/app.css">
  <script src="/live/webauthn.js" defer></script>
  <script type="module" src="/live/app.js"></script>
</head>
<body data-busy="0">
<main>
  <h1>Live trading with Alpaca</h1>
  <p id="notice" role="status" hidden></p>
  <p id="error" role="alert" hidden></p>

  <section id="signin" hidden>
    <h2>Sign in (development)</h2>
    <p>No session. In development the gateway issues one for a user id.</p>
    <form id="signin-form">
      <label>User id <input id="signin-user" name="user" value="demo-pro" autocomplete="username" required></label>
      <button type="submit" id="signin-button">Sign in</button>
    </form>
  </section>

  <section id="standing">
    <h2>Status</h2>
    <dl class="facts">
      <dt>User</dt><dd id="st-user">…</dd>
      <dt>Tier</dt><dd id="st-tier">…</dd>
      <dt>Trading mode</dt><dd id="st-mode">…</dd>
      <dt>Live trading allowed</dt><dd id="st-eligible">…</dd>
      <dt>Kill switch</dt><dd id="st-kill">…</dd>
      <dt>Paper gate</dt><dd id="st-gate">…</dd>
      <dt>Passkey</dt><dd id="st-passkey">…</dd>
      <dt>Recent passkey confirmation</dt><dd id="st-fresh">…</dd>
      <dt>Alpaca</dt><dd id="st-connection">…</dd>
      <dt>Private events</dt><dd id="st-socket">not connected</dd>
    </dl>
    <button type="button" id="refresh">Refresh</button>
  </section>

  <section id="passkeys">
    <h2>Passkey</h2>
    <p>Every live action is confirmed with a passkey on this device.</p>
    <button type="button" id="register">Register passkey</button>
    <button type="button" id="step-up">Confirm (step-up)</button>
  </section>

  <section id="alpaca">
    <h2>Alpaca account</h2>
    <p>Connecting needs a passkey confirmation from the last five minutes.</p>
    <button type="button" id="connect">Connect Alpaca</button>
    <button type="button" id="disconnect">Disconnect</button>
  </section>

  <section id="order">
    <h2>Live order</h2>
    <form id="order-form">
      <label>Symbol <input name="symbol" id="f-symbol" value="AAPL" autocomplete="off" required></label>
      <label>Side <select name="side" id="f-side"><option value="buy">buy</option><option value="sell">sell</option></select></label>
      <label>Quantity <input name="qty" id="f-qty" value="1" inputmode="decimal" autocomplete="off" required></label>
      <label>Type <select name="type" id="f-type"><option value="market">market</option><option value="limit">limit</option></select></label>
      <label>Limit price <input name="limit_price" id="f-limit" inputmode="decimal" autocomplete="off" disabled></label>
      <label>Time in force <select name="time_in_force" id="f-tif"><option value="day">day</option><option value="gtc">gtc</option><option value="ioc">ioc</option><option value="fok">fok</option></select></label>
      <button type="submit" id="review">Review live order</button>
    </form>

    <div id="review-panel" hidden>
      <h3>Check the order before you confirm it</h3>
      <p>Your passkey confirms exactly this order, as the server stored it; the passkey prompt cannot show it.</p>
      <dl class="facts">
        <dt>Order</dt><dd id="draft-summary"></dd>
        <dt>Symbol</dt><dd id="draft-symbol"></dd>
        <dt>Side</dt><dd id="draft-side"></dd>
        <dt>Quantity</dt><dd id="draft-qty"></dd>
        <dt>Type</dt><dd id="draft-type"></dd>
        <dt>Limit price</dt><dd id="draft-limit"></dd>
        <dt>Time in force</dt><dd id="draft-tif"></dd>
        <dt>Client order id</dt><dd id="draft-coid"></dd>
      </dl>
      <button type="button" id="submit-order">Submit live order</button>
      <button type="button" id="discard-order">Discard</button>
    </div>

    <h3>Last order</h3>
    <dl class="facts">
      <dt>Id</dt><dd id="order-id">—</dd>
      <dt>Status</dt><dd id="order-status">—</dd>
      <dt>Broker status</dt><dd id="order-broker-status">—</dd>
      <dt>Filled</dt><dd id="order-filled">—</dd>
    </dl>
    <h3>Fills</h3>
    <ul id="fills"></ul>
  </section>

  <section id="activity">
    <h2>Activity</h2>
    <ol id="log"></ol>
  </section>
</main>
</body>
</html>
`;

export const LIVE_PAGE_CSS = `body { font: 15px/1.4 system-ui, sans-serif; margin: 0; color: #1b1b1f; background: #f6f6f8; }
main { max-width: 52rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
section { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 0.5rem 1rem 1rem; margin: 1rem 0; }
h1 { font-size: 1.4rem; }
h2 { font-size: 1.1rem; }
h3 { font-size: 1rem; margin-bottom: 0.3rem; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; margin: 0.5rem 0; }
.facts dt { color: #555; }
.facts dd { margin: 0; font-variant-numeric: tabular-nums; }
form label { display: inline-block; margin: 0 1rem 0.5rem 0; }
input, select, button { font: inherit; }
button { margin: 0.3rem 0.5rem 0.3rem 0; padding: 0.3rem 0.8rem; }
body[data-busy="1"] button { cursor: progress; }
#notice { background: #e7f5ea; border: 1px solid #8c8; padding: 0.5rem; }
#error { background: #fdecec; border: 1px solid #d88; padding: 0.5rem; white-space: pre-wrap; }
#review-panel { border-top: 2px solid #c60; margin-top: 1rem; }
#draft-summary { font-weight: bold; }
#log { font-size: 0.85rem; color: #444; max-height: 16rem; overflow: auto; }
`;
