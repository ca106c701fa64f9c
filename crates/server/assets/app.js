// footfall dashboard: plain ES2020, no libraries, no build step, works offline.
// Routes (hash): #/mall  #/store/<id>  #/flows  #/optout  #/login
// Range params ride in the hash query: #/store/s1?from=2026-11-01&to=2026-11-07
// Token hand-off for tests/automation (read once, stored, then removed from the URL):
//   #/store/s1?token=TOKEN   or   #token=TOKEN   or   #token=TOKEN&route=/store/s1
'use strict';
(() => {
  const TOKEN_KEY = 'footfall.token';
  const S = {
    token: '', me: null, site: null, range: null, occ: null,
    path: '', params: {}, seq: 0, shown: { from: '', to: '' },
    alerts: [],
    live: { ctrl: null, backoff: 1000, timer: null, status: 'off', wanted: false },
  };
  try { S.token = localStorage.getItem(TOKEN_KEY) || ''; } catch (_) { /* storage disabled */ }

  // ---------- small helpers ----------
  const $ = (sel, el = document) => el.querySelector(sel);
  const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  const enc = encodeURIComponent;
  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  // raw value for data-value attributes: null => "suppressed", missing => "none"
  const raw = (v) => (v === null ? 'suppressed' : v === undefined ? 'none' : String(v));
  const clamp = (x, a, b) => Math.max(a, Math.min(b, x));
  const nf0 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const nf1 = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1, minimumFractionDigits: 1 });
  const supp = (k) => `<span class="supp" title="Hidden for privacy: fewer than ${esc(k)} visitors">&lt;${esc(k)}</span>`;
  const none = '<span class="muted" title="No data">–</span>';
  const fmtCount = (v, k) => (v === null ? supp(k) : isNum(v) ? esc(nf0.format(v)) : none);
  const fmtMean = (v, k) => (v === null ? supp(k) : isNum(v) ? esc(v < 100 ? nf1.format(v) : nf0.format(v)) : none);
  const fmtPct = (v, k) => (v === null ? supp(k) : isNum(v) ? esc(nf1.format(v * 100)) + '<small>%</small>' : none);
  function durText(s) {
    if (s < 60) return `${Math.round(s)} s`;
    const m = s / 60;
    if (m < 10) return `${nf1.format(m)} min`;
    if (m < 120) return `${Math.round(m)} min`;
    return `${Math.floor(m / 60)} h ${Math.round(m % 60)} min`;
  }
  const fmtDur = (v, k) => (v === null ? supp(k) : isNum(v) ? esc(durText(v)).replace(/ (min|s|h)\b/g, ' <small>$1</small>') : none);
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const DOW = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  function parseDay(d) { const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(d || ''); return m ? { y: +m[1], m: +m[2], d: +m[3] } : null; }
  function fmtDay(d, withYear) { const p = parseDay(d); if (!p) return esc(d || ''); return `${p.d} ${MONTHS[p.m - 1]}${withYear ? ' ' + p.y : ''}`; }
  function fmtRange(a, b) {
    if (!a || !b) return '';
    if (a === b) return fmtDay(a, true);
    const pa = parseDay(a), pb = parseDay(b);
    if (pa && pb && pa.y === pb.y && pa.m === pb.m) return `${pa.d}–${pb.d} ${MONTHS[pb.m - 1]} ${pb.y}`;
    return `${fmtDay(a, pa && pb && pa.y !== pb.y)} – ${fmtDay(b, true)}`;
  }
  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return esc(iso);
    try {
      return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZone: S.site?.timezone || undefined });
    } catch (_) { return d.toLocaleTimeString(); }
  }
  const hh = (h) => String(h).padStart(2, '0') + ':00';
  function debounce(fn, ms) { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; }

  // sequential colour scale (light sky -> deep teal), t in 0..1
  const HEAT = [[234, 243, 248], [120, 180, 204], [12, 74, 98]];
  function heat(t) {
    t = clamp(isNum(t) ? t : 0, 0, 1);
    const i = t < 0.5 ? 0 : 1, u = (t - i * 0.5) * 2, a = HEAT[i], b = HEAT[i + 1];
    return `rgb(${a.map((x, j) => Math.round(x + (b[j] - x) * u)).join(',')})`;
  }
  const inkOn = (t) => (t > 0.55 ? '#fff' : '#17323f');

  // ---------- hash / params ----------
  function parseQS(qs) {
    const out = {};
    for (const part of (qs || '').split('&')) {
      if (!part) continue;
      const i = part.indexOf('=');
      const k = i < 0 ? part : part.slice(0, i), v = i < 0 ? '' : part.slice(i + 1);
      try { out[decodeURIComponent(k)] = decodeURIComponent(v); } catch (_) { out[k] = v; }
    }
    return out;
  }
  const buildQS = (o) => Object.entries(o).filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
  function splitHash() {
    const h = location.hash.replace(/^#/, '');
    if (h.startsWith('/')) { const i = h.indexOf('?'); return { path: i < 0 ? h : h.slice(0, i), params: parseQS(i < 0 ? '' : h.slice(i + 1)) }; }
    return { path: '', params: parseQS(h) };
  }
  // Accept a token in the hash once: store it and scrub it from the address bar.
  function takeTokenFromHash() {
    const { path: p0, params } = splitHash();
    if (!('token' in params)) return;
    let path = p0;
    const tok = params.token; delete params.token;
    if (params.route) { path = params.route; delete params.route; }
    for (const k of Object.keys(params)) if (k.startsWith('/') && params[k] === '') { path = k; delete params[k]; }
    setToken(tok);
    const qs = buildQS(params);
    history.replaceState(null, '', location.pathname + location.search + '#' + (path || '/') + (qs ? '?' + qs : ''));
  }
  function setToken(t) {
    S.token = (t || '').trim();
    try { if (S.token) localStorage.setItem(TOKEN_KEY, S.token); else localStorage.removeItem(TOKEN_KEY); } catch (_) { /* ignore */ }
    S.me = S.site = S.range = S.occ = null;
    stopLive();
  }
  const rangeParams = () => ({ from: S.params.from, to: S.params.to });
  const href = (path, extra) => { const qs = buildQS({ ...rangeParams(), ...(extra || {}) }); return '#' + path + (qs ? '?' + qs : ''); };
  const go = (path, extra) => { location.hash = href(path, extra); };

  // ---------- API ----------
  class ApiError extends Error {
    constructor(status, title, detail) { super(detail || title || `HTTP ${status}`); this.status = status; this.title = title; this.detail = detail; }
  }
  function apiUrl(path, params) {
    const qs = buildQS(params || {});
    return new URL('api/v1/' + path + (qs ? '?' + qs : ''), document.baseURI).toString();
  }
  async function readProblem(res) {
    let title = res.statusText, detail = '';
    try {
      const ct = res.headers.get('content-type') || '';
      if (ct.includes('json')) { const j = await res.json(); title = j.title || title; detail = j.detail || ''; }
      else detail = (await res.text()).slice(0, 300);
    } catch (_) { /* ignore */ }
    return new ApiError(res.status, title, detail);
  }
  async function api(path, params) {
    let res;
    try {
      res = await fetch(apiUrl(path, params), { headers: { Authorization: `Bearer ${S.token}`, Accept: 'application/json' }, cache: 'no-store' });
    } catch (e) { throw new ApiError(0, 'Network error', 'Could not reach the footfall server.'); }
    if (!res.ok) throw await readProblem(res);
    return res.json();
  }
  const settle = (p) => p.then((data) => ({ ok: true, data }), (err) => ({ ok: false, err }));
  const isAuth = (r) => r && !r.ok && (r.err.status === 401);

  // ---------- charts that redraw at container width ----------
  const charts = new Map();
  let chartSeq = 0;
  function chart(fn, cls = '') { const id = 'ch' + ++chartSeq; charts.set(id, fn); return `<div class="chart ${cls}" id="${id}"></div>`; }
  function drawCharts(force) {
    for (const [id, fn] of charts) {
      const el = document.getElementById(id);
      if (!el) { charts.delete(id); continue; }
      const W = Math.max(260, Math.floor(el.clientWidth || 600));
      if (!force && el._w === W) continue;
      el._w = W;
      el.innerHTML = fn(W);
    }
  }
  window.addEventListener('resize', debounce(() => drawCharts(false), 150));
  function niceTicks(max, n = 4) {
    if (!(max > 0)) max = 1;
    const s0 = max / n, mag = 10 ** Math.floor(Math.log10(s0));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= s0 - 1e-9);
    const top = Math.ceil(max / step - 1e-9) * step, ticks = [];
    for (let v = 0; v <= top + 1e-9; v += step) ticks.push(+v.toFixed(6));
    return { top, ticks };
  }
  const tickText = (v) => (v >= 1000 ? nf0.format(v) : String(+v.toFixed(1)));
  function yAxis(ticks, top, x0, x1, y, unit) {
    let s = '';
    for (const t of ticks) {
      const yy = y(t);
      s += `<line class="grid" x1="${x0}" x2="${x1}" y1="${yy}" y2="${yy}"/><text class="tick" x="${x0 - 6}" y="${yy + 4}" text-anchor="end">${tickText(t)}</text>`;
    }
    if (unit) s += `<text class="axis-title" x="${x0 - 36}" y="10" text-anchor="start">${esc(unit)}</text>`;
    return s;
  }
  const HATCH = '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#eef0f2"/><line x1="0" y1="0" x2="0" y2="6" stroke="#b9c0c7" stroke-width="2"/></pattern>'
    + '<marker id="arrow" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#b4532a"/></marker></defs>';
  const emptySvg = (testid, W, msg) => `<svg data-testid="${testid}" data-empty="1" viewBox="0 0 ${W} 120" width="100%" role="img"><text class="empty-text" x="${W / 2}" y="64" text-anchor="middle">${esc(msg)}</text></svg>`;

  // ---------- geometry ----------
  function bboxOf(points) {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const [x, y] of points) { if (!isNum(x) || !isNum(y)) continue; x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y); }
    if (!Number.isFinite(x0)) return { x0: 0, y0: 0, w: 1, h: 1 };
    return { x0, y0, w: Math.max(x1 - x0, 1e-6), h: Math.max(y1 - y0, 1e-6) };
  }
  function centroid(poly) {
    let a = 0, cx = 0, cy = 0;
    for (let i = 0; i < poly.length; i++) {
      const [x0, y0] = poly[i], [x1, y1] = poly[(i + 1) % poly.length], c = x0 * y1 - x1 * y0;
      a += c; cx += (x0 + x1) * c; cy += (y0 + y1) * c;
    }
    if (Math.abs(a) < 1e-9) { const b = bboxOf(poly); return [b.x0 + b.w / 2, b.y0 + b.h / 2]; }
    return [cx / (3 * a), cy / (3 * a)];
  }
  // map metres -> pixels, keeping aspect ratio, fitting width W (and at most maxH tall)
  function projector(points, W, maxH, pad = 10) {
    const b = bboxOf(points);
    const s = Math.min((W - 2 * pad) / b.w, (maxH - 2 * pad) / b.h);
    const ox = (W - b.w * s) / 2;
    return { s, W, H: Math.ceil(b.h * s + 2 * pad), p: ([x, y]) => [+(ox + (x - b.x0) * s).toFixed(1), +(pad + (y - b.y0) * s).toFixed(1)] };
  }
  const ptsAttr = (poly, P) => poly.map((q) => P.p(q).join(',')).join(' ');
  function fitLabel(name, widthPx, fs) { const n = Math.max(3, Math.floor(widthPx / (fs * 0.58))); return name.length > n ? name.slice(0, n - 1) + '…' : name; }

  // ---------- occupancy ----------
  function occValue(store, zone) {
    const st = S.occ?.stores?.find((x) => x.store === store);
    if (!st) return undefined;
    if (zone === undefined || zone === null) return st.people;
    const z = st.zones?.find((x) => x.zone === zone);
    return z ? z.people : undefined;
  }
  const occK = () => S.occ?.k ?? 5;
  const occText = (v) => (v === null ? `<${occK()}` : isNum(v) ? nf0.format(v) : '–');
  // store-level: data-testid="occupancy" data-store; zone-level: data-testid="occupancy" data-zone data-in-store
  function occSpan(store, zone, cls = '') {
    const v = occValue(store, zone);
    const z = zone !== undefined && zone !== null;
    return `<span class="occ ${cls}" data-testid="occupancy" ${z ? `data-zone="${esc(zone)}" data-in-store="${esc(store)}"` : `data-store="${esc(store)}"`} data-value="${raw(v)}">${esc(occText(v))}</span>`;
  }
  function applyOcc() {
    for (const el of document.querySelectorAll('.occ')) {
      const store = el.dataset.store || el.dataset.inStore;
      const v = occValue(store, el.dataset.zone);
      const t = occText(v);
      if (el.textContent !== t) { el.textContent = t; el.classList.remove('flash'); void el.getBoundingClientRect(); el.classList.add('flash'); }
      el.dataset.value = raw(v);
    }
    for (const el of document.querySelectorAll('.occ-total')) {
      let sum = 0, any = false;
      for (const st of visibleStores()) { const v = occValue(st.id); if (isNum(v)) { sum += v; any = true; } }
      el.textContent = any ? nf0.format(sum) : '–';
      const c = el.closest('[data-testid="mall-occupancy"]');
      if (c) c.dataset.value = any ? String(sum) : 'none';
    }
    for (const el of document.querySelectorAll('.occ-at')) el.textContent = S.occ?.at ? `as of ${fmtTime(S.occ.at)}` : 'no live data yet';
  }

  // ---------- live stream (fetch + manual SSE parsing, so the Authorization header is sent) ----------
  function setLiveStatus(st) {
    S.live.status = st;
    const el = $('#live');
    if (el) { el.dataset.status = st; el.title = { on: 'Live updates connected', connecting: 'Connecting to live updates…', off: 'Live updates disconnected, retrying' }[st] || st; $('.live-label', el).textContent = st === 'on' ? 'Live' : st === 'connecting' ? 'Connecting' : 'Offline'; }
  }
  function stopLive() {
    S.live.wanted = false;
    clearTimeout(S.live.timer);
    if (S.live.ctrl) { try { S.live.ctrl.abort(); } catch (_) { /* ignore */ } S.live.ctrl = null; }
    setLiveStatus('off');
  }
  function kickLive() {
    if (!S.token || S.live.wanted) return;
    S.live.wanted = true;
    // start after the first render, never blocking it
    S.live.timer = setTimeout(connectLive, 400);
  }
  function handleEvent(type, data) {
    let j;
    try { j = JSON.parse(data); } catch (_) { return; }
    if (type === 'occupancy') { S.occ = j; applyOcc(); }
    else if (type === 'alert') addAlert(j);
  }
  async function connectLive() {
    if (!S.live.wanted || S.live.ctrl) return;
    const ctrl = new AbortController();
    S.live.ctrl = ctrl;
    setLiveStatus('connecting');
    let fatal = false;
    try {
      const res = await fetch(apiUrl('live'), { headers: { Authorization: `Bearer ${S.token}`, Accept: 'text/event-stream' }, cache: 'no-store', signal: ctrl.signal });
      if (!res.ok || !res.body) { if (res.status === 401 || res.status === 403) fatal = true; throw await readProblem(res); }
      setLiveStatus('on');
      S.live.backoff = 1000;
      const reader = res.body.getReader(), dec = new TextDecoder();
      let buf = '', evType = '', data = [];
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        for (;;) {
          const m = /\r\n|\n|\r/.exec(buf);
          if (!m || (m[0] === '\r' && m.index === buf.length - 1)) break; // wait: \r may be half of \r\n
          const line = buf.slice(0, m.index);
          buf = buf.slice(m.index + m[0].length);
          if (line === '') { if (data.length) handleEvent(evType || 'message', data.join('\n')); evType = ''; data = []; continue; }
          if (line[0] === ':') continue;
          const i = line.indexOf(':');
          const field = i < 0 ? line : line.slice(0, i);
          let val = i < 0 ? '' : line.slice(i + 1);
          if (val[0] === ' ') val = val.slice(1);
          if (field === 'event') evType = val;
          else if (field === 'data') data.push(val);
          else if (field === 'retry' && /^\d+$/.test(val)) S.live.backoff = clamp(+val, 500, 60000);
        }
      }
    } catch (e) {
      if (ctrl.signal.aborted) return;
    }
    if (S.live.ctrl === ctrl) S.live.ctrl = null;
    if (!S.live.wanted || fatal) { setLiveStatus('off'); S.live.wanted = false; return; }
    setLiveStatus('off');
    const wait = S.live.backoff * (0.8 + Math.random() * 0.4);
    S.live.backoff = Math.min(S.live.backoff * 2, 30000);
    S.live.timer = setTimeout(connectLive, wait);
  }

  // ---------- alerts ----------
  function addAlert(a) {
    const key = [a.kind, a.store, a.sensor, a.message].join('|');
    S.alerts = [{ ...a, key }, ...S.alerts.filter((x) => x.key !== key)].slice(0, 6);
    renderAlerts();
  }
  function renderAlerts() {
    const box = $('#alerts');
    box.innerHTML = S.alerts.map((a, i) => `<div class="alert alert-${esc(a.kind)}" data-testid="alert" data-kind="${esc(a.kind)}"${a.store ? ` data-store="${esc(a.store)}"` : ''}${a.sensor ? ` data-sensor="${esc(a.sensor)}"` : ''} role="status">
      <span class="alert-icon" aria-hidden="true">!</span><b class="alert-kind">${a.kind === 'sensor_silent' ? 'Sensor' : a.kind === 'occupancy' ? 'Crowding' : esc(a.kind)}</b>
      <span class="alert-msg">${esc(a.message || a.kind)}${a.store ? ` · <a href="${href('/store/' + enc(a.store))}">${esc(storeName(a.store))}</a>` : ''}</span>
      <time class="muted">${esc(fmtTime(a.at))}</time>
      <button class="icon-btn" data-dismiss="${i}" aria-label="Dismiss alert" title="Dismiss">×</button></div>`).join('');
  }
  document.addEventListener('click', (e) => {
    const b = e.target.closest('[data-dismiss]');
    if (b) { S.alerts.splice(+b.dataset.dismiss, 1); renderAlerts(); }
  });

  // ---------- session ----------
  async function ensureSession() {
    if (S.me && S.site && S.range) return;
    const [me, site, range] = await Promise.all([api('me'), api('site'), api('range')]);
    S.me = me; S.site = site; S.range = range;
  }
  const storeName = (id) => S.site?.stores?.find((s) => s.id === id)?.name || id;
  function visibleStores() {
    const all = S.site?.stores || [];
    if (S.me?.role === 'operator') return all;
    const mine = new Set(S.me?.stores || []);
    return all.filter((s) => mine.has(s.id));
  }
  const canSee = (id) => visibleStores().some((s) => s.id === id);

  // ---------- top bar ----------
  function renderTop(mode, path) {
    const top = $('#topbar');
    const brand = `<a class="brand" href="#/"><svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true"><circle cx="7" cy="16" r="3.2" fill="#0c4a62"/><circle cx="16" cy="8" r="3.2" fill="#5aa6c4"/><path d="M9.5 13.5l4-3.2" stroke="#0c4a62" stroke-width="2" stroke-linecap="round"/></svg><span>footfall</span></a>`;
    if (mode !== 'app') {
      top.innerHTML = `<div class="topbar-row">${brand}<nav class="nav">${S.token && mode !== 'error' ? '<a href="#/mall">Dashboard</a>' : ''}<a href="#/optout">Privacy &amp; opt-out</a></nav></div>`;
      return;
    }
    const stores = visibleStores();
    const cur = (path.match(/^\/store\/([^/]+)/) || [])[1];
    const curId = cur ? decodeURIComponent(cur) : '';
    const r = S.range || {};
    const opts = [`<option value="">${S.me?.role === 'retailer' ? 'My stores' : 'Mall overview'}</option>`]
      .concat(stores.map((s) => `<option value="${esc(s.id)}"${s.id === curId ? ' selected' : ''}>${esc(s.name || s.id)}</option>`)).join('');
    const from = S.params.from || S.shown.from || '', to = S.params.to || S.shown.to || '';
    top.innerHTML = `<div class="topbar-row">${brand}<span class="venue">${esc(S.site?.venue || '')}</span>
      <nav class="nav"><a href="${href('/mall')}"${path === '/mall' ? ' aria-current="page"' : ''}>Overview</a><a href="${href('/flows')}"${path === '/flows' ? ' aria-current="page"' : ''}>Flows</a></nav>
      <span class="spacer"></span>
      <span id="live" class="live" data-testid="live-status" data-status="${S.live.status}"><i></i><span class="live-label">${S.live.status === 'on' ? 'Live' : 'Offline'}</span></span>
      <button class="btn btn-ghost" id="logout" data-testid="logout" type="button">Sign out</button></div>
      <form class="topbar-row controls" id="controls" onsubmit="return false">
      <label class="ctl"><span>Store</span><select id="store-select" data-testid="store-select">${opts}</select></label>
      <label class="ctl"><span>From</span><input type="date" id="from" data-testid="from" value="${esc(from)}"${r.first ? ` min="${esc(r.first)}"` : ''}${r.last ? ` max="${esc(r.last)}"` : ''}></label>
      <label class="ctl"><span>To</span><input type="date" id="to" data-testid="to" value="${esc(to)}"${r.first ? ` min="${esc(r.first)}"` : ''}${r.last ? ` max="${esc(r.last)}"` : ''}></label>
      ${S.params.from || S.params.to ? '<button class="btn btn-ghost" type="button" id="range-reset" title="Back to the default range (last 7 days with data)">Last 7 days</button>' : ''}
      </form>`;
    $('#store-select').addEventListener('change', (e) => go(e.target.value ? '/store/' + enc(e.target.value) : '/mall'));
    const onDate = () => {
      let f = $('#from').value, t = $('#to').value;
      if (f && t && f > t) [f, t] = [t, f];
      const p = { ...S.params, from: f || undefined, to: t || undefined };
      location.hash = '#' + (S.path || '/mall') + (buildQS(p) ? '?' + buildQS(p) : '');
    };
    $('#from').addEventListener('change', onDate);
    $('#to').addEventListener('change', onDate);
    $('#range-reset')?.addEventListener('click', () => { const p = { ...S.params }; delete p.from; delete p.to; location.hash = '#' + S.path + (buildQS(p) ? '?' + buildQS(p) : ''); });
    $('#logout').addEventListener('click', logout);
    setLiveStatus(S.live.status);
  }
  function showRange(from, to) {
    if (!from || !to) return;
    S.shown = { from, to };
    const f = $('#from'), t = $('#to');
    if (f && !S.params.from) f.value = from;
    if (t && !S.params.to) t.value = to;
  }
  function logout() { setToken(''); S.alerts = []; renderAlerts(); location.hash = '#/login'; }

  // ---------- pages ----------
  function markReady(seq) {
    if (seq !== S.seq) return;
    drawCharts(true);
    applyOcc();
    document.body.dataset.ready = '1';
    if (S.me) kickLive();
  }
  const panel = (title, body, opts = {}) => `<section class="panel ${opts.cls || ''}"${opts.testid ? ` data-testid="${opts.testid}"` : ''}>
    <header class="panel-head"><h2>${title}</h2>${opts.sub ? `<p class="muted">${opts.sub}</p>` : ''}</header>${body}</section>`;
  const errBox = (r, what) => `<div class="empty error" data-testid="error">Could not load ${esc(what)}: ${esc(r.err.detail || r.err.title || r.err.message)}${r.err.status ? ` (HTTP ${r.err.status})` : ''}</div>`;
  const emptyBox = (msg = 'No data in this range.') => `<div class="empty">${esc(msg)}</div>`;

  function pageAuthError(main, err) {
    const inApp = !!(S.me && S.site && err.status === 403);
    renderTop(inApp ? 'app' : 'error', S.path || '');
    main.innerHTML = `<section class="panel narrow" data-testid="auth-error" data-status="${esc(err.status)}">
      <h1>${err.status === 403 ? 'Access denied' : err.status === 401 ? 'Sign-in needed' : 'Something went wrong'}</h1>
      <p class="problem">${esc(err.detail || err.title || err.message)}</p>
      <p class="muted">${err.status === 401 ? 'The API token is missing, expired or wrong.' : err.status === 403 ? 'This token is not allowed to see this page.' : 'The server could not be reached or answered with an error.'}</p>
      <div class="row-btns">${inApp ? `<a class="btn" href="${href('/mall')}">Back to the overview</a>` : ''}<button class="btn${inApp ? ' btn-ghost' : ''}" type="button" data-testid="change-token" id="change-token">Change token</button>
      ${err.status >= 401 && err.status <= 403 ? '' : '<button class="btn btn-ghost" type="button" id="retry">Retry</button>'}</div></section>`;
    $('#change-token').addEventListener('click', logout);
    $('#retry')?.addEventListener('click', () => { S.me = S.site = S.range = null; route(); });
  }

  function pageLogin(main) {
    main.innerHTML = `<section class="panel narrow login">
      <h1>Sign in to footfall</h1>
      <p class="muted">Paste the API token your mall operator gave you. It stays in this browser only.</p>
      <form id="login" data-testid="login-form" autocomplete="off">
        <label class="field"><span>API token</span><input type="password" id="token" data-testid="token-input" required autocomplete="off" spellcheck="false"></label>
        <div class="row-btns"><button class="btn" type="submit">Sign in</button></div>
        <p class="problem" id="login-error" data-testid="auth-error" hidden></p>
      </form>
      <p class="muted small">Shopper? See <a href="#/optout">what we collect and how to opt out</a>.</p></section>`;
    $('#login').addEventListener('submit', async (e) => {
      e.preventDefault();
      setToken($('#token').value);
      try { await ensureSession(); go('/'); }
      catch (err) { const p = $('#login-error'); p.hidden = false; p.textContent = err.detail || err.title || err.message; setToken(''); }
    });
    $('#token').focus();
  }

  // ----- mall overview -----
  function mallPlan(W, o) {
    const site = S.site || {};
    const all = site.stores || [];
    const pts = all.flatMap((s) => s.polygon || []).concat((site.sensors || []).map((s) => [s.x, s.y]));
    const P = projector(pts, W, Math.max(W * 0.5, 240), 12);
    const fs = clamp(P.s * 1.1, 10, 14);
    let g = '';
    for (const st of all) {
      if (!st.polygon || st.polygon.length < 3) continue;
      const f = o.store(st);
      const poly = `<polygon class="store-poly${f.cls ? ' ' + f.cls : ''}" points="${ptsAttr(st.polygon, P)}" fill="${f.fill}" data-store="${esc(st.id)}"${f.attrs || ''}><title>${esc(f.title)}</title></polygon>`;
      const zones = (st.zones || []).filter((z) => z.polygon && z.polygon.length >= 3)
        .map((z) => `<polygon class="zone-poly" points="${ptsAttr(z.polygon, P)}" data-zone="${esc(z.id)}" data-in-store="${esc(st.id)}"><title>${esc(st.name)} · ${esc(z.name || z.id)}</title></polygon>`).join('');
      const b = bboxOf(st.polygon.map(P.p));
      const [cx, cy] = P.p(centroid(st.polygon));
      const ink = f.ink || '#17323f';
      const ly = o.labelTop ? b.y0 + fs * 1.4 : cy - fs * 0.35;
      const label = o.labels === false ? '' : `<text class="plan-label" x="${cx}" y="${ly}" text-anchor="middle" fill="${ink}" font-size="${fs}">${esc(fitLabel(st.name || st.id, b.w - 6, fs))}</text>
        ${f.visible ? `<text class="plan-occ" x="${cx}" y="${cy + fs * 1.05}" text-anchor="middle" fill="${ink}" font-size="${fs * 1.05}"><tspan class="occ" data-testid="plan-occupancy" data-store="${esc(st.id)}" data-value="${raw(occValue(st.id))}">${esc(occText(occValue(st.id)))}</tspan><tspan font-size="${fs * 0.8}" dx="3">now</tspan></text>` : ''}`;
      const inner = poly + zones + label;
      g += f.link ? `<a href="${f.link}" class="store-link" aria-label="${esc(st.name)}">${inner}</a>` : `<g>${inner}</g>`;
    }
    const sensors = (site.sensors || []).filter((s) => isNum(s.x) && isNum(s.y)).map((s) => { const [x, y] = P.p([s.x, s.y]); return `<circle class="sensor" cx="${x}" cy="${y}" r="3.2" data-sensor="${esc(s.id)}"><title>Sensor ${esc(s.id)}</title></circle>`; }).join('');
    return `<svg data-testid="${o.testid || 'floorplan'}" class="plan" viewBox="0 0 ${W} ${P.H}" width="100%" role="img" aria-label="Floor plan">${HATCH}${g}${o.extra ? o.extra(P) : ''}${sensors}</svg>`;
  }

  async function pageMall(seq, main) {
    const stores = visibleStores();
    const metric = S.params.metric === 'dwell' ? 'dwell' : 'walk_ins';
    main.innerHTML = '<p class="loading">Loading the mall…</p>';
    const rp = rangeParams();
    const [occ, ...sums] = await Promise.all([settle(api('occupancy')), ...stores.map((s) => settle(api(`stores/${enc(s.id)}/summary`, rp)))]);
    if (seq !== S.seq) return;
    const authFail = [occ, ...sums].find(isAuth);
    if (authFail) return pageAuthError(main, authFail.err);
    if (occ.ok) S.occ = occ.data;
    const sum = {};
    stores.forEach((s, i) => { sum[s.id] = sums[i]; });
    const firstOk = sums.find((r) => r.ok)?.data;
    const k = firstOk?.k ?? 5;
    if (firstOk) showRange(firstOk.from, firstOk.to);
    const cur = (id) => (sum[id]?.ok ? sum[id].data.current || {} : undefined);
    const mv = (id) => { const c = cur(id); if (!c) return undefined; return metric === 'dwell' ? c.median_dwell_s : c.walk_ins; };
    const vals = stores.map((s) => mv(s.id)).filter(isNum);
    const max = vals.length ? Math.max(...vals) : 0;
    const noData = !S.range?.first;
    const plan = (W) => mallPlan(W, {
      store: (st) => {
        if (!canSee(st.id)) return { fill: '#eceef1', cls: 'locked', title: `${st.name} (not in your stores)`, visible: false, ink: '#8a949e' };
        const c = cur(st.id), v = mv(st.id), t = isNum(v) && max > 0 ? v / max : 0;
        const attrs = ` data-walk-ins="${raw(c ? c.walk_ins : undefined)}" data-median-dwell-s="${raw(c ? c.median_dwell_s : undefined)}" data-capture-rate="${raw(c ? c.capture_rate : undefined)}" data-heat="${t.toFixed(3)}"`;
        const vtxt = v === null ? `hidden (<${k})` : isNum(v) ? (metric === 'dwell' ? durText(v) : `${nf0.format(v)} walk-ins`) : 'no data';
        return { fill: v === null ? 'url(#hatch)' : isNum(v) ? heat(t) : '#f4f5f7', ink: isNum(v) ? inkOn(t) : '#17323f', attrs, title: `${st.name}: ${vtxt}`, visible: true, link: href('/store/' + enc(st.id)) };
      },
    });
    const sumOf = (f) => { let s = 0, partial = false, any = false; for (const st of stores) { const c = cur(st.id); if (c && isNum(c[f])) { s += c[f]; any = true; } else partial = true; } return { s, partial, any }; };
    const tw = sumOf('walk_ins');
    let live = 0, liveAny = false;
    for (const st of stores) { const v = occValue(st.id); if (isNum(v)) { live += v; liveAny = true; } }
    const mall = firstOk?.mall_average || {};
    const kpi = (label, value, note, testid, rawv) => `<div class="card" data-testid="${testid}" data-value="${raw(rawv)}"><div class="card-label">${label}</div><div class="card-value">${value}</div><div class="card-note muted">${note}</div></div>`;
    const legend = `<div class="legend"><span>${metric === 'dwell' ? 'Median dwell' : 'Walk-ins'}</span><span class="ramp"><span>0</span><i style="background:linear-gradient(90deg,${heat(0)},${heat(0.5)},${heat(1)})"></i><span>${max ? (metric === 'dwell' ? esc(durText(max)) : esc(nf0.format(max))) : '–'}</span></span>
      <span><i class="sw hatch"></i> hidden (&lt;${k} visitors)</span>${stores.length < (S.site?.stores?.length || 0) ? '<span><i class="sw locked"></i> not your store</span>' : ''}<span><i class="sw dot"></i> sensor</span></div>`;
    const toggle = `<div class="seg" role="group" aria-label="Colour stores by"><a href="${href('/mall')}"${metric === 'walk_ins' ? ' aria-current="true"' : ''}>Walk-ins</a><a href="${href('/mall', { metric: 'dwell' })}"${metric === 'dwell' ? ' aria-current="true"' : ''}>Dwell</a></div>`;
    const rows = stores.map((st) => {
      const r = sum[st.id];
      if (!r.ok) return `<tr data-store="${esc(st.id)}"><th scope="row"><a href="${href('/store/' + enc(st.id))}">${esc(st.name)}</a></th><td>${occSpan(st.id)}</td><td colspan="4" class="muted">${esc(r.err.detail || r.err.title)}</td></tr>`;
      const c = r.data.current || {}, p = r.data.previous || {};
      return `<tr data-store="${esc(st.id)}"><th scope="row"><a href="${href('/store/' + enc(st.id))}">${esc(st.name)}</a><div class="muted small">${esc(st.category || '')}</div></th>
        <td class="num">${occSpan(st.id)}</td>
        <td class="num" data-col="walk_ins" data-value="${raw(c.walk_ins)}">${fmtCount(c.walk_ins, k)}</td>
        <td class="num hide-sm">${delta(c.walk_ins, p.walk_ins, 'count', false)}</td>
        <td class="num" data-col="capture_rate" data-value="${raw(c.capture_rate)}">${fmtPct(c.capture_rate, k)}</td>
        <td class="num" data-col="median_dwell_s" data-value="${raw(c.median_dwell_s)}">${fmtDur(c.median_dwell_s, k)}</td></tr>`;
    }).join('');
    main.innerHTML = `<div class="page-head"><div><h1>${esc(S.site?.venue || 'Mall')} ${S.me?.role === 'retailer' ? '<span class="muted h-sub">· your stores</span>' : ''}</h1>
        <p class="muted">${firstOk ? esc(fmtRange(firstOk.from, firstOk.to)) : noData ? 'No data collected yet' : ''}${firstOk?.previous?.from ? ` · compared with ${esc(fmtRange(firstOk.previous.from, firstOk.previous.to))}` : ''}</p></div></div>
      ${noData ? emptyBox('No visits have been recorded yet. Once sensors report, this page fills in.') : ''}
      <div class="cards">
        ${kpi(S.me?.role === 'retailer' ? 'Walk-ins, your stores' : 'Walk-ins, all stores', tw.any ? (tw.partial ? '≥ ' : '') + esc(nf0.format(tw.s)) : none, tw.partial ? 'some stores hidden' : 'in the selected range', 'mall-walk_ins', tw.any ? tw.s : undefined)}
        ${kpi('In stores now', `<span class="occ-total">${liveAny ? esc(nf0.format(live)) : '–'}</span>`, `<span class="occ-at">${S.occ?.at ? 'as of ' + esc(fmtTime(S.occ.at)) : 'no live data yet'}</span>`, 'mall-occupancy', liveAny ? live : undefined)}
        ${kpi('Mall avg capture rate', fmtPct(mall.capture_rate, k), 'walk-ins ÷ people passing', 'mall-capture_rate', mall.capture_rate)}
        ${kpi('Mall avg median dwell', fmtDur(mall.median_dwell_s, k), 'per store visit', 'mall-median_dwell_s', mall.median_dwell_s)}
      </div>
      <div class="grid">
        ${panel('Floor plan', chart(plan) + legend, { cls: 'span-12', sub: `Stores coloured by ${metric === 'dwell' ? 'median dwell time' : 'walk-ins'} in the range; the number is people inside right now. Click a store for details.`, testid: 'floorplan-panel' }).replace('<h2>Floor plan</h2>', `<h2><span>Floor plan</span>${toggle}</h2>`)}
        ${panel('Stores', `<div class="table-wrap"><table class="table" data-testid="stores-table"><thead><tr><th scope="col">Store</th><th scope="col" class="num">Now</th><th scope="col" class="num">Walk-ins</th><th scope="col" class="num hide-sm">vs prev.</th><th scope="col" class="num">Capture</th><th scope="col" class="num">Median dwell</th></tr></thead><tbody>${rows || '<tr><td colspan="6" class="muted">No stores.</td></tr>'}</tbody></table></div>`, { cls: 'span-12' })}
      </div>`;
    markReady(seq);
  }

  // ----- deltas & cards -----
  function delta(cur, prev, kind, downIsGood, suffix = '') {
    if (!isNum(cur) || !isNum(prev)) return '<span class="delta muted">–</span>';
    let d, txt;
    if (kind === 'rate') { d = (cur - prev) * 100; txt = `${d >= 0 ? '+' : '−'}${nf1.format(Math.abs(d))} pts`; }
    else { if (prev === 0) return '<span class="delta muted">–</span>'; d = (cur - prev) / prev * 100; txt = `${d >= 0 ? '+' : '−'}${nf1.format(Math.abs(d))}%`; }
    const flat = Math.abs(d) < 0.05;
    const good = flat ? 'flat' : (d > 0) !== downIsGood ? 'good' : 'bad';
    return `<span class="delta ${good}">${flat ? '■' : d > 0 ? '▲' : '▼'} ${txt}${suffix}</span>`;
  }
  function card(key, label, r, kind, fmt, downIsGood) {
    const k = r.k, c = r.current?.[key], p = r.previous?.[key], m = r.mall_average?.[key];
    const prevTxt = r.previous?.from ? `${fmtRange(r.previous.from, r.previous.to)}` : 'previous period';
    return `<div class="card" data-testid="card-${key}" data-value="${raw(c)}" data-previous="${raw(p)}" data-mall-average="${raw(m)}">
      <div class="card-label">${label}</div><div class="card-value">${fmt(c, k)}</div>
      <div class="card-note">${delta(c, p, kind, downIsGood)} <span class="muted" title="${esc(prevTxt)}">vs prev.</span></div>
      <div class="card-note">${delta(c, m, kind, downIsGood)} <span class="muted" title="Mall average: ${esc(String(isNum(m) ? m : '–'))}">vs mall avg</span></div>
      ${c === null ? `<div class="card-note muted small">hidden for privacy</div>` : ''}</div>`;
  }

  // ----- store page charts -----
  function hourlyChart(d) {
    return (W) => {
      const hours = (d.hours || []).filter((h) => isNum(h.hour)).sort((a, b) => a.hour - b.hour);
      if (!hours.length) return emptySvg('hourly-chart', W, 'No data in this range');
      const h0 = hours[0].hour, h1 = hours[hours.length - 1].hour, n = h1 - h0 + 1;
      const by = new Map(hours.map((h) => [h.hour, h]));
      const H = 256, ml = 44, mr = 8, mt = 24, mb = 26, cw = W - ml - mr, ch = H - mt - mb;
      const max = Math.max(0, ...hours.flatMap((h) => [h.walk_ins, h.walk_bys, h.previous_walk_ins].filter(isNum)));
      const { top, ticks } = niceTicks(max);
      const y = (v) => +(mt + ch - (v / top) * ch).toFixed(1);
      const band = cw / n, bw = Math.max(2, Math.min(22, band * 0.36));
      let s = yAxis(ticks, top, ml, W - mr, y, 'per day');
      const every = band >= 34 ? 1 : band >= 18 ? 2 : 3;
      const line = [];
      for (let i = 0; i < n; i++) {
        const hr = h0 + i, row = by.get(hr), cx = ml + band * i + band / 2;
        if (i % every === 0) s += `<text class="tick" x="${cx}" y="${H - 8}" text-anchor="middle">${band >= 40 ? hh(hr) : hr}</text>`;
        if (!row) continue;
        [['walk_bys', cx - bw - 1, 'bar-wb'], ['walk_ins', cx + 1, 'bar-wi']].forEach(([key, x, cls]) => {
          const v = row[key];
          const label = key === 'walk_ins' ? 'Walk-ins' : 'Walk-bys';
          if (v === null) s += `<rect class="bar-supp" x="${x.toFixed(1)}" y="${mt + ch - 4}" width="${bw.toFixed(1)}" height="4" fill="url(#hatch)" data-hour="${hr}" data-series="${key}" data-value="suppressed"><title>${hh(hr)} ${label}: hidden (&lt;${esc(d.k)})</title></rect>`;
          else if (isNum(v)) s += `<rect class="${cls}" x="${x.toFixed(1)}" y="${y(v)}" width="${bw.toFixed(1)}" height="${Math.max(0, mt + ch - y(v)).toFixed(1)}" rx="2" data-hour="${hr}" data-series="${key}" data-value="${v}"><title>${hh(hr)}–${hh(hr + 1)} ${label}: ${nf1.format(v)} per day</title></rect>`;
        });
        if (isNum(row.previous_walk_ins)) line.push([cx + 1 + bw / 2, y(row.previous_walk_ins), hr, row.previous_walk_ins]);
        else if (row.previous_walk_ins === null) line.push(null);
      }
      // previous-period walk-ins line (breaks at gaps/suppressed values)
      let path = '', pen = false;
      for (const p of line) { if (!p) { pen = false; continue; } path += `${pen ? 'L' : 'M'}${p[0].toFixed(1)},${p[1]} `; pen = true; }
      if (path) s += `<path class="line-prev" d="${path.trim()}"/>`;
      s += line.filter(Boolean).map((p) => `<circle class="dot-prev" cx="${p[0].toFixed(1)}" cy="${p[1]}" r="3" data-hour="${p[2]}" data-series="previous_walk_ins" data-value="${p[3]}"><title>${hh(p[2])} walk-ins, previous period: ${nf1.format(p[3])} per day</title></circle>`).join('');
      s += `<line class="axis" x1="${ml}" x2="${W - mr}" y1="${mt + ch}" y2="${mt + ch}"/>`;
      return `<svg data-testid="hourly-chart" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="Walk-ins and walk-bys by hour of day">${HATCH}${s}</svg>`;
    };
  }
  function hourlyNote(d) {
    const hs = (d.hours || []).filter((h) => isNum(h.walk_ins));
    if (!hs.length) return '';
    const peak = hs.reduce((a, b) => (b.walk_ins > a.walk_ins ? b : a));
    const low = hs.reduce((a, b) => (b.walk_ins < a.walk_ins ? b : a));
    return `<p class="insight" data-testid="peak-hour" data-hour="${peak.hour}">Busiest: <b>${hh(peak.hour)}–${hh(peak.hour + 1)}</b> (${nf1.format(peak.walk_ins)} walk-ins/day) · quietest: ${hh(low.hour)}–${hh(low.hour + 1)}</p>`;
  }
  function dwellChart(d) {
    return (W) => {
      const bins = d.bins || [];
      if (!bins.length || bins.every((b) => b.visits === 0)) return emptySvg('dwell-chart', W, 'No visits in this range');
      const H = 228, ml = 44, mr = 8, mt = 24, mb = 40, cw = W - ml - mr, ch = H - mt - mb;
      const max = Math.max(0, ...bins.map((b) => b.visits).filter(isNum));
      const total = bins.map((b) => b.visits).filter(isNum).reduce((a, b) => a + b, 0);
      const { top, ticks } = niceTicks(max);
      const y = (v) => +(mt + ch - (v / top) * ch).toFixed(1);
      const band = cw / bins.length, bw = band * 0.72;
      let s = yAxis(ticks, top, ml, W - mr, y, 'visits');
      bins.forEach((b, i) => {
        const x = ml + band * i + (band - bw) / 2, cx = x + bw / 2;
        const lab = b.to_min === null || b.to_min === undefined ? `${b.from_min}+` : `${b.from_min}–${b.to_min}`;
        const attrs = `data-bin="${i}" data-from-min="${raw(b.from_min)}" data-to-min="${raw(b.to_min)}" data-value="${raw(b.visits)}"`;
        if (b.visits === null) s += `<rect class="bar-supp" x="${x.toFixed(1)}" y="${mt + ch - 4}" width="${bw.toFixed(1)}" height="4" fill="url(#hatch)" ${attrs}><title>${lab} min: hidden (&lt;${esc(d.k)})</title></rect><text class="bar-label" x="${cx}" y="${mt + ch - 8}" text-anchor="middle">&lt;${esc(d.k)}</text>`;
        else if (isNum(b.visits)) {
          s += `<rect class="bar-dwell" x="${x.toFixed(1)}" y="${y(b.visits)}" width="${bw.toFixed(1)}" height="${(mt + ch - y(b.visits)).toFixed(1)}" rx="2" ${attrs}><title>${lab} min: ${nf0.format(b.visits)} visits</title></rect>`;
          if (band >= 30 && total > 0) s += `<text class="bar-label" x="${cx}" y="${y(b.visits) - 4}" text-anchor="middle">${Math.round(b.visits / total * 100)}%</text>`;
        }
        const showLab = band >= 30 || i % 2 === 0;
        if (showLab) s += `<text class="tick" x="${cx}" y="${mt + ch + 16}" text-anchor="middle">${esc(lab)}</text>`;
      });
      s += `<text class="axis-title" x="${ml + cw / 2}" y="${H - 4}" text-anchor="middle">minutes in store</text><line class="axis" x1="${ml}" x2="${W - mr}" y1="${mt + ch}" y2="${mt + ch}"/>`;
      return `<svg data-testid="dwell-chart" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="Dwell time histogram">${HATCH}${s}</svg>`;
    };
  }
  function dailyChart(d) {
    return (W) => {
      const rows = d.rows || [];
      if (!rows.length) return emptySvg('daily-chart', W, 'No data in this range');
      const H = 198, ml = 44, mr = 8, mt = 24, mb = 26, cw = W - ml - mr, ch = H - mt - mb;
      const max = Math.max(0, ...rows.map((r) => r.walk_ins).filter(isNum));
      const { top, ticks } = niceTicks(max);
      const y = (v) => +(mt + ch - (v / top) * ch).toFixed(1);
      const band = cw / rows.length, bw = Math.min(36, band * 0.7);
      let s = yAxis(ticks, top, ml, W - mr, y, 'walk-ins');
      const every = Math.ceil(44 / band);
      rows.forEach((r, i) => {
        const cx = ml + band * i + band / 2, x = cx - bw / 2;
        const p = parseDay(r.period);
        const lab = p ? (band >= 44 ? `${DOW[new Date(Date.UTC(p.y, p.m - 1, p.d)).getUTCDay()]} ${p.d}` : `${p.d}/${p.m}`) : esc(r.period);
        const attrs = `data-period="${esc(r.period)}" data-series="walk_ins" data-value="${raw(r.walk_ins)}"`;
        if (r.walk_ins === null) s += `<rect class="bar-supp" x="${x.toFixed(1)}" y="${mt + ch - 4}" width="${bw.toFixed(1)}" height="4" fill="url(#hatch)" ${attrs}><title>${esc(r.period)}: hidden</title></rect>`;
        else if (isNum(r.walk_ins)) s += `<rect class="bar-wi" x="${x.toFixed(1)}" y="${y(r.walk_ins)}" width="${bw.toFixed(1)}" height="${(mt + ch - y(r.walk_ins)).toFixed(1)}" rx="2" ${attrs}><title>${esc(r.period)}: ${nf0.format(r.walk_ins)} walk-ins</title></rect>`;
        if (i % every === 0) s += `<text class="tick" x="${cx}" y="${H - 8}" text-anchor="middle">${lab}</text>`;
      });
      s += `<line class="axis" x1="${ml}" x2="${W - mr}" y1="${mt + ch}" y2="${mt + ch}"/>`;
      return `<svg data-testid="daily-chart" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="Walk-ins per day">${HATCH}${s}</svg>`;
    };
  }
  // Walk-bys → walk-ins → buyers (POS sales attributed to a visit), with capture rate and
  // conversion; the engaged count and the sales figures sit under it.
  function funnelHtml(f, sumr, sales) {
    const k = f.k;
    const t = sales && sales.ok ? sales.data.total : null;
    const hasPos = !!t && (t.transactions === null || (isNum(t.transactions) && t.transactions > 0));
    const buyers = hasPos ? t.attributed : undefined;
    const steps = [['walk_bys', 'Walked past', f.walk_bys], ['walk_ins', 'Came in', f.walk_ins], ['buyers', 'Bought', buyers]];
    const max = Math.max(0, ...steps.map((s) => s[2]).filter(isNum));
    const capture = sumr?.current?.capture_rate;
    const conversion = hasPos ? t.conversion : undefined;
    const rate = (testid, v, label) => `<span data-testid="${testid}" data-value="${raw(v)}">${v === null ? `${label} hidden (&lt;${esc(k)})` : isNum(v) ? `${nf1.format(v * 100)}% ${label}` : `${label} –`}</span>`;
    const conv = [rate('funnel-capture', capture, 'capture rate'), hasPos ? rate('funnel-conversion', conversion, 'conversion') : '<span data-testid="funnel-conversion" data-value="none">no POS sales in this range</span>'];
    if (!steps.some((s) => isNum(s[2]) || s[2] === null)) return `<div data-testid="funnel" data-empty="1">${emptyBox()}</div>`;
    const money = (v) => (isNum(v) ? esc(v.toFixed(2)) : v === null ? supp(k) : none);
    const extra = hasPos ? `<p class="muted small fnote" data-testid="funnel-sales">Avg. transaction <b class="num" data-testid="atv" data-value="${raw(t.avg_transaction_value)}">${money(t.avg_transaction_value)}</b> · shopper yield <b class="num" data-testid="yield" data-value="${raw(t.shopper_yield)}">${money(t.shopper_yield)}</b> per visit · <span data-testid="unattributed" data-value="${raw(t.unattributed)}">${fmtCount(t.unattributed, k)}</span> of <span data-testid="transactions" data-value="${raw(t.transactions)}">${fmtCount(t.transactions, k)}</span> sales without a visit at the till</p>` : '';
    return `<div class="funnel" data-testid="funnel">${steps.map(([key, label, v], i) => `
      ${i > 0 ? `<div class="fconv muted">↓ ${conv[i - 1]}</div>` : ''}
      <div class="fstep" data-step="${key}" data-value="${raw(v)}"><div class="flabel">${label}</div>
        <div class="fbar"><span class="f-${key}" style="width:${isNum(v) && max > 0 ? Math.max(1.5, v / max * 100).toFixed(1) : 0}%"></span></div>
        <div class="fval num">${v === undefined ? none : fmtCount(v, k)}</div></div>`).join('')}
      <p class="muted small fnote" data-testid="funnel-engaged" data-value="${raw(f.engaged)}">Stayed ≥ 5 min: ${fmtCount(f.engaged, k)}</p>${extra}</div>`;
  }
  function zoneMap(st, zr, k) {
    return (W) => {
      const zs = new Map((zr?.zones || []).map((z) => [z.id, z]));
      const pts = (st.polygon || []).concat(...(st.zones || []).map((z) => z.polygon || []));
      if (pts.length < 3) return emptySvg('zone-map', W, 'No floor plan for this store');
      const P = projector(pts, W, Math.min(300, Math.max(200, W * 0.6)), 10);
      const fs = 12;
      let s = `<polygon class="store-outline" points="${ptsAttr(st.polygon || [], P)}" data-store="${esc(st.id)}"/>`;
      for (const z of st.zones || []) {
        if (!z.polygon || z.polygon.length < 3) continue;
        const d = zs.get(z.id) || {};
        const e = d.exposure;
        const fill = e === null ? 'url(#hatch)' : isNum(e) ? heat(e) : '#f4f5f7';
        const ink = isNum(e) ? inkOn(e) : '#17323f';
        const title = `${z.name || z.id}: ${isNum(e) ? Math.round(e * 100) + '% of visitors went here' : e === null ? `hidden (<${k})` : 'no data'}${isNum(d.median_dwell_s) ? `, median dwell ${durText(d.median_dwell_s)}` : ''}`;
        const b = bboxOf(z.polygon.map(P.p)), [cx, cy] = P.p(centroid(z.polygon));
        s += `<g class="zone"><polygon class="zone-heat" points="${ptsAttr(z.polygon, P)}" fill="${fill}" data-zone="${esc(z.id)}" data-in-store="${esc(st.id)}" data-exposure="${raw(e)}" data-visits="${raw(d.visits)}" data-median-dwell-s="${raw(d.median_dwell_s)}"><title>${esc(title)}</title></polygon>
          <text class="plan-label" x="${cx}" y="${cy - 4}" text-anchor="middle" fill="${ink}" font-size="${fs}">${esc(fitLabel(z.name || z.id, b.w - 6, fs))}</text>
          <text class="plan-occ" x="${cx}" y="${cy + 14}" text-anchor="middle" fill="${ink}" font-size="${fs + 1}">${isNum(e) ? Math.round(e * 100) + '%' : e === null ? '&lt;' + esc(k) : ''}</text></g>`;
      }
      const sensors = (S.site?.sensors || []).filter((x) => x.store === st.id && isNum(x.x)).map((x) => { const [a, b] = P.p([x.x, x.y]); return `<circle class="sensor" cx="${a}" cy="${b}" r="3.2" data-sensor="${esc(x.id)}"><title>Sensor ${esc(x.id)}</title></circle>`; }).join('');
      return `<svg data-testid="zone-map" class="plan" viewBox="0 0 ${W} ${P.H}" width="100%" role="img" aria-label="Zone heatmap">${HATCH}${s}${sensors}</svg>`;
    };
  }
  function pathsHtml(pr, st) {
    const zn = (id) => (id === null || id === undefined ? null : (st.zones || []).find((z) => z.id === id)?.name || id);
    const tr = (pr.transitions || []).slice().sort((a, b) => (isNum(b.count) ? b.count : -1) - (isNum(a.count) ? a.count : -1)).slice(0, 8);
    if (!tr.length) return `<div data-testid="paths" data-empty="1">${emptyBox()}</div>`;
    const max = Math.max(1, ...tr.map((t) => t.count).filter(isNum));
    const end = (id, from) => (id === null || id === undefined ? `<span class="door">${from ? 'Door (in)' : 'Door (out)'}</span>` : esc(zn(id)));
    return `<ol class="paths" data-testid="paths">${tr.map((t) => `<li data-from="${esc(t.from ?? '')}" data-to="${esc(t.to ?? '')}" data-value="${raw(t.count)}">
      <div class="path-label">${end(t.from, true)} <span class="arrow">→</span> ${end(t.to, false)}</div>
      <div class="pbar"><span style="width:${isNum(t.count) ? Math.max(1.5, t.count / max * 100).toFixed(1) : 0}%"></span></div>
      <div class="num">${fmtCount(t.count, pr.k)}</div></li>`).join('')}</ol>`;
  }
  // The five segments (WiFi devices and ad IDs) with k-gated export buttons: a button is
  // disabled, with the reason beside it, unless the ad-ID segment reaches the audience k.
  function segmentsHtml(r) {
    if (!r.ok) return `<div data-testid="segments" data-available="0">${errBox(r, 'segments')}</div>`;
    const d = r.data, k = d.k, ak = d.audience_k, w = d.window || {};
    const reason = (g) => (g.exportable ? '' : g.ad_ids === null ? `needs ${ak} ad IDs; has fewer than ${k}` : `needs ${ak} ad IDs; has ${isNum(g.ad_ids) ? nf0.format(g.ad_ids) : 0}`);
    const rows = (d.segments || []).map((g) => `<tr data-segment="${esc(g.segment)}">
        <th scope="row">${esc(g.title)}</th>
        <td class="num" data-testid="seg-wifi" data-segment="${esc(g.segment)}" data-value="${raw(g.wifi_devices)}">${fmtCount(g.wifi_devices, k)}</td>
        <td class="num" data-testid="seg-adids" data-segment="${esc(g.segment)}" data-value="${raw(g.ad_ids)}">${fmtCount(g.ad_ids, k)}</td>
        <td><button type="button" class="btn btn-small" data-testid="export" data-segment="${esc(g.segment)}" data-exportable="${g.exportable ? 1 : 0}"${g.exportable ? '' : ` disabled aria-describedby="why-${esc(g.segment)}"`}>Export</button>
          ${g.exportable ? '' : `<div class="muted small" id="why-${esc(g.segment)}" data-testid="export-reason" data-segment="${esc(g.segment)}">${esc(reason(g))}</div>`}</td></tr>`).join('');
    return `<div data-testid="segments" data-available="1" data-from="${esc(w.first || '')}" data-to="${esc(w.last || '')}" data-lost-after-days="${esc(w.lost_after_days ?? '')}">
      <p class="muted small">${esc(fmtRange(w.first, w.last))} · lost = not seen in the last ${esc(w.lost_after_days ?? '–')} days</p>
      <div class="table-wrap"><table class="table seg-table"><thead><tr><th scope="col">Segment</th><th scope="col" class="num">WiFi devices</th><th scope="col" class="num">Ad IDs</th><th scope="col">Audience</th></tr></thead><tbody>${rows}</tbody></table></div>
      <div class="seg-foot"><label class="ctl">Format <select data-testid="export-format"><option value="meta">Meta (madid)</option><option value="google">Google Customer Match</option><option value="ttd">The Trade Desk (MAID)</option></select></label>
      <span class="muted small" data-testid="export-status" role="status"></span></div>
      <p class="muted small">Only advertising IDs of the consented app feed can be exported (at least ${esc(ak)}); WiFi devices are counted, never exported. Every export is logged.</p></div>`;
  }
  // Export: POST through the API with the token, then save the file the server sent.
  function wireExports(root, storeId) {
    const box = root.querySelector('[data-testid="segments"][data-available="1"]');
    if (!box) return;
    const status = box.querySelector('[data-testid="export-status"]');
    box.querySelectorAll('button[data-testid="export"]:not([disabled])').forEach((b) => b.addEventListener('click', async () => {
      const format = box.querySelector('[data-testid="export-format"]').value;
      const params = { format, from: box.dataset.from, to: box.dataset.to, lost_after_days: box.dataset.lostAfterDays };
      b.disabled = true; status.textContent = 'Exporting…';
      try {
        const res = await fetch(apiUrl(`stores/${enc(storeId)}/segments/${enc(b.dataset.segment)}/export`, params), { method: 'POST', headers: { Authorization: `Bearer ${S.token}` }, cache: 'no-store' });
        if (!res.ok) throw await readProblem(res);
        const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') || '')?.[1] || `${storeId}-${b.dataset.segment}.csv`;
        const url = URL.createObjectURL(await res.blob());
        const a = document.createElement('a');
        a.href = url; a.download = name; document.body.appendChild(a); a.click(); a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
        status.textContent = `Downloaded ${name} (${res.headers.get('x-footfall-export-size') || '?'} IDs).`;
      } catch (e) {
        status.textContent = e.detail || e.message || 'The export failed.';
      } finally { b.disabled = false; }
    }));
  }

  async function pageStore(seq, main, id) {
    const st = (S.site?.stores || []).find((s) => s.id === id);
    if (!st || !canSee(id)) {
      if (st) return pageAuthError(main, new ApiError(403, 'Forbidden', `This token cannot see store “${st.name || id}”.`));
      main.innerHTML = `<section class="panel narrow" data-testid="not-found"><h1>Unknown store</h1><p>There is no store “${esc(id)}”. <a href="${href('/mall')}">Back to the overview</a>.</p></section>`;
      return markReady(seq);
    }
    main.innerHTML = `<div class="page-head"><div><h1>${esc(st.name)}</h1></div></div><p class="loading">Loading…</p>`;
    const rp = rangeParams(), base = `stores/${enc(id)}/`;
    const names = ['summary', 'hourly', 'funnel', 'dwell', 'zones', 'paths'];
    const res = await Promise.all([...names.map((n) => settle(api(base + n, rp))), settle(api('occupancy')), settle(api(base + 'metrics', { ...rp, by: 'day' })), settle(api(base + 'segments', rp)), settle(api(base + 'sales', rp))]);
    if (seq !== S.seq) return;
    const [sum, hourly, funnel, dwell, zones, paths, occ, daily, segs, sales] = res;
    const fail = res.slice(0, 8).find((r) => !r.ok && (r.err.status === 401 || r.err.status === 403));
    if (fail) return pageAuthError(main, fail.err);
    if (occ.ok) S.occ = occ.data;
    const k = sum.ok ? sum.data.k : 5;
    if (sum.ok) showRange(sum.data.from, sum.data.to);
    const sd = sum.ok ? sum.data : null;
    const cards = sum.ok ? `<div class="cards cards-5">
        ${card('walk_ins', 'Walk-ins', sd, 'count', fmtCount, false)}
        ${card('walk_bys', 'Walk-bys', sd, 'count', fmtCount, false)}
        ${card('capture_rate', 'Capture rate', sd, 'rate', fmtPct, false)}
        ${card('median_dwell_s', 'Median dwell', sd, 'count', fmtDur, false)}
        ${card('bounce_rate', 'Bounce rate', sd, 'rate', fmtPct, true)}</div>` : errBox(sum, 'the summary');
    const prevRange = hourly.ok && hourly.data.previous_from ? fmtRange(hourly.data.previous_from, hourly.data.previous_to) : 'previous period';
    const hourlyBody = hourly.ok ? `<div class="legend"${(hourly.data.hours || []).length ? '' : ' hidden'}><span><i class="sw wi"></i> Walk-ins</span><span><i class="sw wb"></i> Walk-bys</span><span><i class="sw line"></i> Walk-ins, ${esc(prevRange)}</span><span><i class="sw hatch"></i> hidden (&lt;${esc(hourly.data.k)})</span></div>${chart(hourlyChart(hourly.data))}${hourlyNote(hourly.data)}` : errBox(hourly, 'hourly traffic');
    const zoneRows = zones.ok ? (st.zones || []).map((z) => { const d = (zones.data.zones || []).find((x) => x.id === z.id) || {}; return `<tr data-zone="${esc(z.id)}"><th scope="row">${esc(z.name || z.id)}</th><td class="num">${occSpan(id, z.id)}</td><td class="num" data-value="${raw(d.visits)}">${fmtCount(d.visits, zones.data.k)}</td><td class="num" data-value="${raw(d.exposure)}">${fmtPct(d.exposure, zones.data.k)}</td><td class="num" data-value="${raw(d.median_dwell_s)}">${fmtDur(d.median_dwell_s, zones.data.k)}</td></tr>`; }).join('') : '';
    const zoneBody = zones.ok ? `${(st.zones || []).length ? chart(zoneMap(st, zones.data, zones.data.k)) + `<div class="legend"><span>Share of visitors reaching the zone</span><span class="ramp"><span>0%</span><i style="background:linear-gradient(90deg,${heat(0)},${heat(0.5)},${heat(1)})"></i><span>100%</span></span></div>
      <div class="table-wrap"><table class="table" data-testid="zones-table"><thead><tr><th scope="col">Zone</th><th scope="col" class="num">Now</th><th scope="col" class="num">Visits</th><th scope="col" class="num">Reached</th><th scope="col" class="num">Median dwell</th></tr></thead><tbody>${zoneRows}</tbody></table></div>` : emptyBox('This store has no zones configured.')}` : errBox(zones, 'zones');
    const liveBody = `<div class="live-big">${occSpan(id, undefined, 'big')}<span class="muted">people in the store</span></div><p class="muted small occ-at">${S.occ?.at ? 'as of ' + esc(fmtTime(S.occ.at)) : 'no live data yet'}</p>
      ${(st.zones || []).length ? `<ul class="zone-live">${st.zones.map((z) => `<li><span>${esc(z.name || z.id)}</span>${occSpan(id, z.id)}</li>`).join('')}</ul>` : ''}`;
    main.innerHTML = `<div class="page-head"><div><h1>${esc(st.name)} <span class="muted h-sub">${esc(st.category || '')}</span></h1>
        <p class="muted">${sd ? esc(fmtRange(sd.from, sd.to)) : ''}${sd?.previous?.from ? ` · compared with ${esc(fmtRange(sd.previous.from, sd.previous.to))}` : ''}</p></div>
        <div class="live-badge"><span class="muted">In store now</span> ${occSpan(id, undefined, 'badge')}</div></div>
      ${S.range && !S.range.first ? emptyBox('No visits have been recorded yet. Once sensors report, this page fills in.') : ''}
      ${cards}
      <div class="grid">
        ${panel('Traffic by hour of day', hourlyBody, { cls: 'span-8', testid: 'hourly-panel', sub: hourly.ok ? `Average per day over ${esc(hourly.data.days ?? '–')} day(s) with data: plan staff for the peaks.` : '' })}
        ${panel('Live occupancy', liveBody, { cls: 'span-4', testid: 'live-panel' })}
        ${panel('Funnel', funnel.ok ? funnelHtml(funnel.data, sd, sales) : errBox(funnel, 'the funnel'), { cls: 'span-6', testid: 'funnel-panel', sub: 'From people passing the door to visitors who bought (sales attributed to a visit at the till).' })}
        ${panel('How long visitors stay', dwell.ok ? chart(dwellChart(dwell.data)) : errBox(dwell, 'dwell times'), { cls: 'span-6', sub: sd && isNum(sd.current?.median_dwell_s) ? `Median visit: ${esc(durText(sd.current.median_dwell_s))}.` : 'Visits by time spent in the store.' })}
        ${panel('Zones', zoneBody, { cls: 'span-7', testid: 'zones-panel', sub: 'Where visitors go inside the store. Hover a zone for its median dwell.' })}
        ${panel('Paths between zones', paths.ok ? pathsHtml(paths.data, st) : errBox(paths, 'paths'), { cls: 'span-5', sub: 'Most common moves, including arriving and leaving.' })}
        ${panel('Walk-ins per day', daily.ok ? chart(dailyChart(daily.data)) : errBox(daily, 'daily metrics'), { cls: 'span-5' })}
        ${panel('Segments', segmentsHtml(segs), { cls: 'span-7', testid: 'segments-panel', sub: 'Shoppers sorted into five groups over the window; groups, never people.' })}
      </div>`;
    wireExports(main, id);
    markReady(seq);
  }

  // ----- flows -----
  async function pageFlows(seq, main) {
    main.innerHTML = '<p class="loading">Loading flows…</p>';
    const r = await settle(api('flows', rangeParams()));
    if (seq !== S.seq) return;
    if (isAuth(r)) return pageAuthError(main, r.err);
    if (!r.ok) {
      main.innerHTML = `<div class="page-head"><h1>Cross-shopping</h1></div><div data-testid="flows">${errBox(r, 'flows')}</div>`;
      return markReady(seq);
    }
    const d = r.data, k = d.k;
    showRange(d.from, d.to);
    const ids = d.stores || [];
    const cell = new Map((d.cells || []).map((c) => [c.from + '\u0000' + c.to, c.devices]));
    const max = Math.max(0, ...(d.cells || []).map((c) => c.devices).filter(isNum));
    const short = (id) => { const n = storeName(id); return n.length > 14 ? n.slice(0, 13) + '…' : n; };
    const abbr = (id) => { const w = storeName(id).split(/[\s&]+/).filter(Boolean); return (w.length > 1 ? w.map((x) => x[0]).join('') : w[0] || id).slice(0, 3).toUpperCase(); };
    const table = ids.length ? `<div class="table-wrap"><table class="table heat-table" data-testid="flows-table"><thead><tr><th scope="col" class="corner">from ↓ &nbsp;to →</th>${ids.map((b) => `<th scope="col" title="${esc(storeName(b))}"><span class="long">${esc(short(b))}</span><span class="short">${esc(abbr(b))}</span></th>`).join('')}</tr></thead>
      <tbody>${ids.map((a) => `<tr><th scope="row" title="${esc(storeName(a))}">${esc(short(a))}</th>${ids.map((b) => {
        if (a === b) return '<td class="diag" aria-label="same store">·</td>';
        const v = cell.get(a + '\u0000' + b);
        const t = isNum(v) && max > 0 ? v / max : 0;
        return `<td class="num" data-from="${esc(a)}" data-to="${esc(b)}" data-value="${raw(v)}" style="${isNum(v) ? `background:${heat(t)};color:${inkOn(t)}` : ''}" title="${esc(storeName(a))} → ${esc(storeName(b))}: ${v === null ? 'hidden' : isNum(v) ? nf0.format(v) + ' devices' : 'none'}">${v === undefined ? '<span class="muted">0</span>' : fmtCount(v, k)}</td>`;
      }).join('')}</tr>`).join('')}</tbody></table></div>` : emptyBox();
    const top = (d.cells || []).filter((c) => isNum(c.devices) && c.devices > 0 && c.from !== c.to).sort((a, b) => b.devices - a.devices).slice(0, 10);
    const arrows = (P) => {
      const cen = new Map((S.site?.stores || []).filter((s) => s.polygon?.length >= 3).map((s) => [s.id, P.p(centroid(s.polygon))]));
      return top.map((c) => {
        const a = cen.get(c.from), b = cen.get(c.to);
        if (!a || !b) return '';
        const dx = b[0] - a[0], dy = b[1] - a[1], L = Math.hypot(dx, dy) || 1;
        const sh = Math.min(0.3, 10 / L); // pull ends in from centroids so labels stay readable
        const ax = a[0] + dx * sh, ay = a[1] + dy * sh, bx = b[0] - dx * sh, by = b[1] - dy * sh;
        const off = L * 0.18, mx = (ax + bx) / 2 - dy / L * off, my = (ay + by) / 2 + dx / L * off;
        const w = (1.5 + 7 * c.devices / (top[0].devices || 1)).toFixed(1);
        return `<path class="flow-arrow" d="M${ax.toFixed(1)},${ay.toFixed(1)} Q${mx.toFixed(1)},${my.toFixed(1)} ${bx.toFixed(1)},${by.toFixed(1)}" stroke-width="${w}" marker-end="url(#arrow)" data-from="${esc(c.from)}" data-to="${esc(c.to)}" data-value="${c.devices}"><title>${esc(storeName(c.from))} → ${esc(storeName(c.to))}: ${nf0.format(c.devices)} devices</title></path>`;
      }).join('');
    };
    const map = (W) => mallPlan(W, { testid: 'flows-map', labelTop: true, store: (st) => ({ fill: '#f3f5f7', title: st.name, visible: false, ink: '#3b4b55', link: canSee(st.id) ? href('/store/' + enc(st.id)) : '' }), extra: arrows });
    const list = top.length ? `<ol class="plain toplist">${top.slice(0, 5).map((c) => `<li><b>${esc(storeName(c.from))}</b> → <b>${esc(storeName(c.to))}</b> <span class="muted">${nf0.format(c.devices)} devices</span></li>`).join('')}</ol>` : '';
    main.innerHTML = `<div class="page-head"><div><h1>Cross-shopping</h1><p class="muted">${esc(fmtRange(d.from, d.to))} · devices seen in one store and then another</p></div></div>
      <div class="grid" data-testid="flows">
        ${panel('Between stores', table + `<div class="legend"><span>Devices</span><span class="ramp"><span>0</span><i style="background:linear-gradient(90deg,${heat(0)},${heat(0.5)},${heat(1)})"></i><span>${max ? esc(nf0.format(max)) : '–'}</span></span><span>&lt;${esc(k)}: hidden for privacy</span></div>`, { cls: 'span-6', sub: 'Read across: of visitors to the row store, how many also visited the column store.' })}
        ${panel('On the floor plan', (top.length ? chart(map) : emptyBox()) + list, { cls: 'span-6', sub: 'The 10 strongest flows; arrow width ∝ devices.' })}
      </div>`;
    markReady(seq);
  }

  // ----- opt-out (public, no token) -----
  function pageOptout(main) {
    const url = location.origin + location.pathname + '#/optout';
    main.innerHTML = `<div class="optout">
      <section class="panel no-print">
        <h1>Your privacy and how to opt out</h1>
        <p>This place counts visitors with small WiFi/Bluetooth sensors, so the shops can see how busy they are and when to staff up.</p>
        <ul class="facts">
          <li><b>What we keep:</b> a keyed hash (a scrambled code) of your phone's WiFi/Bluetooth address, made the moment the signal arrives.</li>
          <li><b>What we never keep:</b> the address itself, your name, your phone number, photos or faces.</li>
          <li><b>What shops see:</b> only counts of groups (for example “120 walk-ins on Tuesday”). Groups smaller than a minimum size are hidden.</li>
        </ul>
      </section>
      <section class="panel no-print">
        <h2>Opt out</h2>
        <p>Enter your phone's WiFi MAC address or advertising ID. We turn it into the same code, delete everything recorded under it and ignore it from now on.</p>
        <form id="optout-form" data-testid="optout-form" autocomplete="off">
          <label class="field"><span>WiFi MAC address or advertising ID</span>
          <input id="optout-id" data-testid="optout-id" name="id" required spellcheck="false" autocapitalize="off" placeholder="aa:bb:cc:dd:ee:ff"></label>
          <div class="row-btns"><button class="btn" type="submit" id="optout-submit">Opt me out</button></div>
        </form>
        <div id="optout-result" data-testid="optout-result" role="status" aria-live="polite"></div>
        <details class="howto"><summary>How do I find my MAC address?</summary>
          <ul>
            <li><b>iPhone:</b> Settings → Wi-Fi → tap ⓘ next to the network → <i>Private Wi-Fi Address</i>.</li>
            <li><b>Android:</b> Settings → About phone → Status (or Wi-Fi) → <i>Wi-Fi MAC address</i>.</li>
          </ul>
          <p class="muted">Most phones use a randomized address that changes per network and over time. If you have connected to this store's or mall's WiFi, enter the address shown for that network.</p>
        </details>
      </section>
      <section class="panel signage" data-testid="signage">
        <h2 class="no-print">Sign for the store door</h2>
        <div class="sign">
          <p class="sign-title">Visitor counting in this store</p>
          <p data-testid="signage-text">This store counts visitors with WiFi/Bluetooth sensors. Your phone's address is turned into an unreadable code on arrival and never stored. We publish only counts of groups. Opt out at <b>${esc(url)}</b></p>
        </div>
        <div class="row-btns no-print"><button class="btn btn-ghost" type="button" id="print-sign">Print the sign</button></div>
      </section></div>`;
    $('#print-sign').addEventListener('click', () => { document.body.classList.add('print-sign'); window.print(); });
    $('#optout-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const out = $('#optout-result'), id = $('#optout-id').value.trim(), btn = $('#optout-submit');
      if (!id) return;
      btn.disabled = true;
      out.className = ''; out.textContent = 'Sending…';
      try {
        const res = await fetch(apiUrl('optout'), { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify({ id }), cache: 'no-store' });
        out.dataset.status = String(res.status);
        if (res.ok) {
          const j = await res.json();
          const erased = j.erased && typeof j.erased === 'object' ? Object.entries(j.erased) : [];
          out.className = 'notice ok';
          out.innerHTML = `<p><b>Done.</b> ${esc(j.confirmation || '')}</p>${erased.length ? `<p class="muted">Deleted: ${erased.map(([kk, v]) => `${esc(v)} ${esc(kk.replace(/_/g, ' '))}`).join(', ')}</p>` : ''}`;
        } else {
          const err = await readProblem(res);
          out.className = 'notice bad';
          out.textContent = res.status === 404 ? 'Opt-out is not available on this server yet. Please ask the store.' : (err.detail || err.title || `Error ${res.status}`);
        }
      } catch (_) {
        out.dataset.status = '0'; out.className = 'notice bad'; out.textContent = 'Could not reach the server. Please try again.';
      } finally { btn.disabled = false; }
    });
  }
  window.addEventListener('afterprint', () => document.body.classList.remove('print-sign'));

  // ---------- router ----------
  async function route() {
    takeTokenFromHash();
    const seq = ++S.seq;
    delete document.body.dataset.ready;
    charts.clear();
    const { path: p0, params } = splitHash();
    S.params = params;
    let path = p0 || '/';
    const main = $('#main');
    document.body.dataset.page = path.split('/')[1] || 'home';
    if (path === '/optout') { S.path = path; renderTop('public'); pageOptout(main); return markReady(seq); }
    if (!S.token || path === '/login') { S.path = '/login'; document.body.dataset.page = 'login'; renderTop('public'); pageLogin(main); return markReady(seq); }
    try { await ensureSession(); } catch (e) {
      if (seq !== S.seq) return;
      pageAuthError(main, e);
      return markReady(seq);
    }
    if (seq !== S.seq) return;
    if (path === '/' || path === '') {
      const vs = visibleStores();
      path = S.me?.role === 'retailer' && vs.length === 1 ? '/store/' + enc(vs[0].id) : '/mall';
      const qs = buildQS(params);
      history.replaceState(null, '', location.pathname + location.search + '#' + path + (qs ? '?' + qs : ''));
      document.body.dataset.page = path.split('/')[1];
    }
    S.path = path;
    renderTop('app', path);
    const m = /^\/store\/([^/?]+)$/.exec(path);
    if (path === '/mall') await pageMall(seq, main);
    else if (path === '/flows') await pageFlows(seq, main);
    else if (m) await pageStore(seq, main, decodeURIComponent(m[1]));
    else { main.innerHTML = `<section class="panel narrow" data-testid="not-found"><h1>Page not found</h1><p><a href="${href('/mall')}">Go to the overview</a></p></section>`; }
    markReady(seq);
  }
  window.addEventListener('hashchange', route);
  route();
})();
