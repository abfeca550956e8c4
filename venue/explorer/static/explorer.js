/* sealbatch batch explorer: markets, live batches, one batch's curves and fills, order lookup.
 *
 * Reads only public routes of the venue that serves it (/v1/info, /v1/markets,
 * /v1/batches, /v1/orders/{commitment}; a proven batch links its proof's bytes at
 * /v1/batches/{id}/proof) and follows the `batches` topic of WS /v1/stream: sequence numbers per topic, gaps healed from
 * GET /v1/stream/replay, a new epoch or a 410 answered by subscribing again.
 * Prices are integer ticks throughout; they are shown in the market's quote
 * currency with exact decimal arithmetic (BigInt), never floats.
 */
(function () {
  "use strict";

  const STATUSES = ["committed", "cleared", "settled", "proven", "anchored"];
  const MAX_LISTED = 200;
  const FATE_LOOKUPS_MAX = 120;

  const state = {
    info: null,
    clockOffsetMs: 0,
    markets: {},
    marketOrder: [],
    batches: new Map(), // batch id -> summary or full record
    records: new Map(), // batch id -> full record (from the stream or a fetch)
    lastCleared: -1,
    fresh: new Set(),
    charts: {},
    view: null,
  };

  // ------------------------------------------------------------------ helpers

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "dataset") Object.assign(el.dataset, v);
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  async function getJson(path) {
    const r = await fetch(path, { headers: { accept: "application/json" }, cache: "no-store" });
    let body = null;
    try {
      body = await r.json();
    } catch (_err) {
      body = null;
    }
    return { status: r.status, ok: r.ok, body };
  }

  function short(hex, n) {
    if (typeof hex !== "string") return "–";
    const k = n || 10;
    return hex.length > k + 6 ? hex.slice(0, k) + "…" + hex.slice(-4) : hex;
  }

  function hexCell(hex, n) {
    return h("span", { class: "hex", title: hex }, short(hex, n));
  }

  function fmtInt(v) {
    if (v === null || v === undefined) return "–";
    return BigInt(v).toLocaleString("en-US");
  }

  /** The market's tick as an exact decimal: "0.1 USD" -> {num: 1n, decimals: 1, unit: "USD"}. */
  function tickOf(marketId) {
    const m = state.markets[marketId];
    const text = (m && m.tick_size) || "1";
    const [amount, unit] = text.split(" ");
    const [whole, frac = ""] = amount.split(".");
    return { num: BigInt(whole + frac), decimals: frac.length, unit: unit || "" };
  }

  /** Ticks -> "65,001.6" in the quote currency (exact; a tick of 0.1 means one decimal). */
  function fmtPrice(marketId, ticks) {
    if (ticks === null || ticks === undefined) return "–";
    const t = tickOf(marketId);
    const scaled = BigInt(Math.round(ticks)) * t.num;
    const neg = scaled < 0n;
    const digits = (neg ? -scaled : scaled).toString().padStart(t.decimals + 1, "0");
    const whole = BigInt(digits.slice(0, digits.length - t.decimals)).toLocaleString("en-US");
    const frac = t.decimals ? "." + digits.slice(digits.length - t.decimals) : "";
    return (neg ? "-" : "") + whole + frac;
  }

  function priceCell(marketId, ticks) {
    if (ticks === null || ticks === undefined) return h("span", { class: "muted" }, "–");
    return h("span", { title: `${ticks} ticks` }, fmtPrice(marketId, ticks));
  }

  function statusBadge(status, phase) {
    const label = phase ? `${status} · ${phase}` : status;
    return h("span", { class: `badge st-${status}` }, label);
  }

  function statusTrack(status) {
    const failed = status === "failed";
    const reached = failed ? -1 : STATUSES.indexOf(status);
    return h(
      "ol",
      { class: "track", "aria-label": "batch status" },
      STATUSES.map((s, i) =>
        h("li", { class: i <= reached ? "done" : "todo", "aria-current": i === reached ? "step" : null }, s),
      ),
      failed ? h("li", { class: "failed", "aria-current": "step" }, "failed") : null,
    );
  }

  function section(title, ...children) {
    return h("section", { class: "card" }, h("h2", {}, title), ...children);
  }

  function table(headers, rows, opts) {
    const o = opts || {};
    return h(
      "div",
      { class: "scroll" },
      h(
        "table",
        { class: o.class || "" },
        h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, rows),
      ),
    );
  }

  function kv(pairs) {
    return h(
      "dl",
      { class: "kv" },
      pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v === null || v === undefined ? "–" : v)]),
    );
  }

  function serverNow() {
    return Date.now() + state.clockOffsetMs;
  }

  // ------------------------------------------------------------------ stream

  /** Follows one topic of WS /v1/stream with sequence numbers and gap healing (docs/api.md). */
  class TopicStream {
    constructor(topic, handlers) {
      this.topic = topic;
      this.handlers = handlers;
      this.epoch = null;
      this.last = 0;
      this.ws = null;
      this.chain = Promise.resolve();
      this.backoffMs = 250;
      this.healed = 0;
      this.closed = false;
    }

    connect() {
      const proto = location.protocol === "https:" ? "wss:" : "ws:";
      const ws = new WebSocket(`${proto}//${location.host}/v1/stream`);
      this.ws = ws;
      this.handlers.status("connecting");
      ws.addEventListener("open", () => {
        this.backoffMs = 250;
        ws.send(JSON.stringify({ op: "subscribe", topics: [this.topic] }));
      });
      ws.addEventListener("message", (ev) => {
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch (_err) {
          return;
        }
        this.chain = this.chain.then(() => this.process(ws, msg));
      });
      ws.addEventListener("close", () => {
        if (this.ws !== ws || this.closed) return;
        this.handlers.status("reconnecting");
        setTimeout(() => this.connect(), this.backoffMs);
        this.backoffMs = Math.min(this.backoffMs * 2, 5000);
      });
    }

    resubscribe() {
      const old = this.ws;
      this.ws = null;
      if (old) old.close();
      this.chain = Promise.resolve();
      this.connect();
    }

    async process(ws, msg) {
      if (ws !== this.ws) return; // from a socket we already left
      if (msg.type === "error") {
        this.handlers.status("error", msg.detail || msg.code);
        return;
      }
      if (msg.topic !== this.topic) return;
      if (msg.type === "snapshot") {
        this.epoch = msg.epoch;
        this.last = msg.seq;
        this.handlers.snapshot(msg.data);
        this.handlers.status("live", this.last);
        return;
      }
      if (msg.epoch !== this.epoch) {
        this.resubscribe(); // the venue restarted: sequence numbers start again
        return;
      }
      if (msg.seq <= this.last) return; // a duplicate
      if (msg.seq > this.last + 1) {
        const r = await getJson(
          `/v1/stream/replay?topic=${encodeURIComponent(this.topic)}&after=${this.last}`,
        );
        if (ws !== this.ws) return;
        if (!r.ok || r.body.epoch !== this.epoch) {
          this.resubscribe(); // 410 gone or a new epoch: start from a fresh snapshot
          return;
        }
        for (const m of r.body.messages) {
          if (m.seq > this.last && m.seq < msg.seq) this.deliver(m);
        }
        this.healed += 1;
        if (this.last + 1 !== msg.seq) {
          this.resubscribe();
          return;
        }
      }
      this.deliver(msg);
    }

    deliver(msg) {
      this.last = msg.seq;
      this.handlers.message(msg);
      this.handlers.status("live", this.last);
    }
  }

  // ------------------------------------------------------------------ data

  async function loadInfo() {
    const r = await getJson("/v1/info");
    if (r.ok) {
      state.info = r.body;
      state.clockOffsetMs = r.body.now_ms - Date.now();
    }
  }

  async function loadMarkets() {
    const r = await getJson("/v1/markets");
    if (!r.ok) return;
    state.markets = {};
    state.marketOrder = [];
    for (const m of r.body.markets) {
      state.markets[m.market_id] = m;
      state.marketOrder.push(m.market_id);
    }
  }

  async function loadBatches() {
    const r = await getJson("/v1/batches?limit=50");
    if (!r.ok) return;
    for (const b of r.body.batches) if (!state.batches.has(b.batch_id)) state.batches.set(b.batch_id, b);
    state.lastCleared = Math.max(state.lastCleared, r.body.last_cleared);
  }

  function summarize(record) {
    const markets = {};
    for (const [m, mr] of Object.entries(record.markets || {})) {
      markets[m] = { price: mr.price, volume: mr.volume };
    }
    return {
      batch_id: record.batch_id,
      status: record.status,
      result_hash: record.result_hash,
      commitments: record.commitments,
      markets,
    };
  }

  function remember(record) {
    state.records.set(record.batch_id, record);
    state.batches.set(record.batch_id, summarize(record));
    state.lastCleared = Math.max(state.lastCleared, record.batch_id);
    const ids = [...state.batches.keys()].sort((a, b) => b - a);
    for (const id of ids.slice(MAX_LISTED)) {
      state.batches.delete(id);
      state.records.delete(id);
    }
  }

  // ------------------------------------------------------------------ views

  function setLive(kind, detail) {
    const el = document.getElementById("live");
    el.className = `live live-${kind}`;
    el.textContent =
      kind === "live" ? `live · seq ${detail}` : kind === "error" ? `stream error: ${detail}` : `${kind}…`;
  }

  function marketsTable() {
    const rows = state.marketOrder.map((id) => {
      const m = state.markets[id];
      const br = m.breaker || {};
      const fund = m.funding || {};
      return h(
        "tr",
        { dataset: { market: id } },
        h("th", { scope: "row" }, id),
        h("td", { class: "num" }, priceCell(id, m.last_price)),
        h("td", { class: "num" }, priceCell(id, m.oracle ? m.oracle.index_price : null)),
        h("td", { class: "num" }, priceCell(id, m.mark_price)),
        h("td", { class: "num", title: "cumulative funding index" }, fmtInt(fund.funding_index)),
        h(
          "td",
          {},
          h(
            "span",
            { class: br.protective ? "badge st-failed" : "badge st-settled" },
            br.protective ? "protective" : "normal",
          ),
          ` band ${fmtInt(br.band_bps)} bps`,
          m.oracle && m.oracle.flagged ? h("span", { class: "badge st-failed" }, "oracle flagged") : null,
        ),
      );
    });
    return table(["market", "last price", "index", "mark", "funding index", "breaker"], rows, {
      class: "markets",
    });
  }

  function openBatchRows() {
    const info = state.info;
    if (!info) return [];
    const s = info.schedule;
    const now = serverNow();
    const collecting = Math.floor((now - s.genesis_ms) / s.commit_window_ms);
    const rows = [];
    for (const id of [collecting, collecting - 1]) {
      if (id <= state.lastCleared || id < 0) continue;
      const open = s.genesis_ms + id * s.commit_window_ms;
      const commitClose = open + s.commit_window_ms;
      const revealClose = commitClose + s.reveal_window_ms;
      const phase = now < commitClose ? "commit" : now < revealClose ? "reveal" : "clearing";
      const left = Math.max(0, (phase === "commit" ? commitClose : revealClose) - now);
      rows.push(
        h(
          "tr",
          { class: "open", dataset: { batchId: id, status: "committed" } },
          h("td", {}, `#${id}`),
          h("td", {}, statusBadge("committed", phase)),
          h("td", { class: "num muted" }, "sealed"),
          h(
            "td",
            { colspan: Math.max(1, state.marketOrder.length) },
            h("span", { class: "muted" }, phase === "clearing" ? "clearing now" : `${(left / 1000).toFixed(1)} s left`),
          ),
        ),
      );
    }
    return rows;
  }

  function batchRows() {
    const ids = [...state.batches.keys()].sort((a, b) => b - a);
    return ids.map((id) => {
      const b = state.batches.get(id);
      return h(
        "tr",
        { class: state.fresh.has(id) ? "fresh" : "", dataset: { batchId: id, status: b.status } },
        h("td", {}, h("a", { href: `#/batch/${id}` }, `#${id}`)),
        h("td", {}, statusBadge(b.status)),
        h("td", { class: "num" }, fmtInt(b.commitments)),
        state.marketOrder.map((m) => {
          const mr = (b.markets || {})[m];
          if (!mr || mr.price === null) return h("td", { class: "muted" }, "no trade");
          return h("td", { class: "num" }, priceCell(m, mr.price), h("span", { class: "vol" }, ` × ${fmtInt(mr.volume)}`));
        }),
      );
    });
  }

  function batchesTable() {
    const headers = ["batch", "status", "commitments", ...state.marketOrder.map((m) => `${m} price × lots`)];
    return h(
      "div",
      { class: "scroll" },
      h(
        "table",
        { class: "batches" },
        h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", { class: "open-batches" }, openBatchRows()),
        h("tbody", { class: "cleared-batches" }, batchRows()),
      ),
    );
  }

  function renderOverview() {
    const view = document.getElementById("view");
    view.replaceChildren(
      section("Markets", marketsTable()),
      section(
        "Batches",
        h(
          "p",
          { class: "muted" },
          "Each batch clears every market at one uniform price. Status moves committed → cleared → settled (or failed) → proven once the batch's STARK proof is verified → anchored once the L1 exchange contract accepted it (a venue run with --l1; without one no batch is anchored).",
        ),
        h("div", { id: "batches-table" }, batchesTable()),
      ),
    );
  }

  function refreshOverview() {
    const holder = document.getElementById("batches-table");
    if (!holder) return;
    holder.replaceChildren(batchesTable());
    const markets = document.querySelector("table.markets");
    if (markets) markets.closest(".scroll").replaceWith(marketsTable());
  }

  // --------------------------------------------------------------- batch page

  /** D(p): lots bid at or above p (auction.clearing.Curves.demand_at). */
  function demandAt(c, p) {
    for (let i = 0; i < c.prices.length; i++) if (c.prices[i] >= p) return c.demand[i];
    return c.market_buy;
  }

  /** S(p): lots offered at or below p (auction.clearing.Curves.supply_at). */
  function supplyAt(c, p) {
    let out = c.market_sell;
    for (let i = 0; i < c.prices.length; i++) if (c.prices[i] <= p) out = c.supply[i];
    return out;
  }

  /** The chart's data: every limit price, the clearing price, and a margin either side. */
  function curveData(mr) {
    const c = mr.curves;
    const xs = new Set(c.prices);
    if (mr.price !== null) xs.add(mr.price);
    if (mr.reference_price !== null && mr.reference_price !== undefined) xs.add(mr.reference_price);
    let sorted = [...xs].sort((a, b) => a - b);
    const span = Math.max(sorted[sorted.length - 1] - sorted[0], 10);
    const pad = Math.max(1, Math.ceil(span / 20));
    sorted = [sorted[0] - pad, ...sorted, sorted[sorted.length - 1] + pad];
    const demand = sorted.map((p) => demandAt(c, p));
    const supply = sorted.map((p) => supplyAt(c, p));
    const clearing = sorted.map((p) => (p === mr.price ? mr.volume : null));
    return [sorted, demand, supply, clearing];
  }

  function makeChart(marketId, mr, holder) {
    const data = curveData(mr);
    const css = getComputedStyle(document.documentElement);
    const color = (name) => css.getPropertyValue(name).trim();
    const width = Math.max(240, holder.clientWidth || 600);
    const opts = {
      width,
      height: 280,
      scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] } },
      axes: [
        {
          label: `price (${tickOf(marketId).unit || "ticks"})`,
          values: (_u, vals) => vals.map((v) => fmtPrice(marketId, v)),
          space: 90, // px between price ticks: the labels are wide
          stroke: color("--fg"),
          grid: { stroke: color("--grid") },
        },
        { label: "lots", stroke: color("--fg"), grid: { stroke: color("--grid") } },
      ],
      series: [
        { label: "price", value: (_u, v) => (v === null || v === undefined ? "–" : fmtPrice(marketId, v)) },
        {
          label: "demand D(p)",
          stroke: color("--demand"),
          width: 2,
          paths: uPlot.paths.stepped({ align: -1 }),
          points: { show: false },
        },
        {
          label: "supply S(p)",
          stroke: color("--supply"),
          width: 2,
          paths: uPlot.paths.stepped({ align: 1 }),
          points: { show: false },
        },
        {
          label: "clearing (price, volume)",
          stroke: color("--clearing"),
          fill: color("--clearing"),
          paths: () => null,
          points: { show: true, size: 12, fill: color("--clearing") },
        },
      ],
      cursor: { drag: { x: true, y: false, setScale: true } },
      legend: { live: true },
    };
    const chart = new uPlot(opts, data, holder);
    chart.root.dataset.market = marketId;
    state.charts[marketId] = chart;
    return chart;
  }

  /** The marginal level of the long side and how it was rationed, from the public curves. */
  function marginal(mr) {
    const c = mr.curves;
    const p = mr.price;
    if (p === null || mr.buy_volume === mr.sell_volume) return null;
    const buysLong = mr.buy_volume > mr.sell_volume;
    const n = c.prices.length;
    if (buysLong) {
      for (let i = 0; i < n; i++) {
        if (c.prices[i] < p) continue;
        const above = i + 1 < n ? c.demand[i + 1] : c.market_buy;
        const level = c.demand[i] - above;
        if (level <= 0) continue;
        return { side: "buy", price: c.prices[i], offered: level, filled: mr.volume - above, ahead: above };
      }
      return { side: "buy", price: null, offered: c.market_buy, filled: mr.volume, ahead: 0 };
    }
    for (let i = n - 1; i >= 0; i--) {
      if (c.prices[i] > p) continue;
      const below = i > 0 ? c.supply[i - 1] : c.market_sell;
      const level = c.supply[i] - below;
      if (level <= 0) continue;
      return { side: "sell", price: c.prices[i], offered: level, filled: mr.volume - below, ahead: below };
    }
    return { side: "sell", price: null, offered: c.market_sell, filled: mr.volume, ahead: 0 };
  }

  function marginalText(marketId, mr) {
    const m = marginal(mr);
    if (mr.price === null) return "No trade: no price executes any volume.";
    if (m === null) return "Demand and supply are equal at the clearing price: no order was rationed.";
    const at = m.price === null ? "market orders" : `${m.side}s limited at ${fmtPrice(marketId, m.price)}`;
    const pct = m.offered ? ((100 * m.filled) / m.offered).toFixed(1) : "0";
    return (
      `Marginal level (the long side is ${m.side}): ${at}. ${fmtInt(m.ahead)} lots ahead by price priority filled in full; ` +
      `the level offered ${fmtInt(m.offered)} lots and got ${fmtInt(m.filled)} (${m.filled}/${m.offered} ≈ ${pct} %), ` +
      "shared pro rata in whole lots, remainder lots in an order drawn from the batch's commitment root."
    );
  }

  function sortableTable(headers, rows, keyOf) {
    // rows: [{cells: [Node...], keys: [sortable values...], class}]
    let sortCol = -1;
    let asc = true;
    const tbody = h("tbody", {});
    const ths = headers.map((label, i) =>
      h(
        "th",
        { scope: "col", class: "sortable", "aria-sort": "none" },
        h("button", { type: "button", onclick: () => sortBy(i) }, label),
      ),
    );
    function draw() {
      const ordered = [...rows];
      if (sortCol >= 0) {
        ordered.sort((a, b) => {
          const x = a.keys[sortCol];
          const y = b.keys[sortCol];
          const cmp = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
          return asc ? cmp : -cmp;
        });
      }
      tbody.replaceChildren(
        ...ordered.map((r) => h("tr", { class: r.class || "", dataset: { key: keyOf(r) } }, r.cells)),
      );
      ths.forEach((th, i) =>
        th.setAttribute("aria-sort", i === sortCol ? (asc ? "ascending" : "descending") : "none"),
      );
    }
    function sortBy(i) {
      asc = sortCol === i ? !asc : true;
      sortCol = i;
      draw();
    }
    draw();
    const t = h("table", { class: "fills" }, h("thead", {}, h("tr", {}, ths)), tbody);
    t.redraw = (newRows) => {
      rows = newRows;
      draw();
    };
    return h("div", { class: "scroll" }, t);
  }

  function fillRows(marketId, fills, fates) {
    return fills.map((f) => {
      const fate = fates.get(f.order_id);
      const order = fate && fate.order;
      const rationed = fate && fate.reason === "rationed" && fate.batch_id !== undefined;
      const outcome = fate ? `${fate.status}${fate.share ? ` (${fate.share})` : ""}` : "…";
      return {
        class: rationed ? "rationed" : "",
        keys: [
          f.order_id,
          f.trader,
          f.side,
          f.quantity,
          f.price,
          order && order.limit_price !== null ? order.limit_price : -1,
          order ? order.quantity : -1,
          outcome,
        ],
        cells: [
          h("td", {}, h("a", { href: `#/order/${f.order_id}` }, hexCell(f.order_id))),
          h("td", {}, hexCell(f.trader)),
          h("td", { class: `side-${f.side}` }, f.side),
          h("td", { class: "num" }, fmtInt(f.quantity)),
          h("td", { class: "num" }, priceCell(marketId, f.price)),
          h("td", { class: "num" }, order ? (order.limit_price === null ? "market" : priceCell(marketId, order.limit_price)) : "…"),
          h("td", { class: "num" }, order ? fmtInt(order.quantity) : "…"),
          h("td", {}, rationed ? h("span", { class: "badge st-rationed" }, outcome) : outcome),
        ],
        order_id: f.order_id,
      };
    });
  }

  async function loadFates(commitments, onEach) {
    const queue = [...commitments].slice(0, FATE_LOOKUPS_MAX);
    const out = new Map();
    async function worker() {
      while (queue.length) {
        const c = queue.shift();
        const r = await getJson(`/v1/orders/${c}`);
        if (r.ok) out.set(c, r.body);
      }
    }
    await Promise.all([worker(), worker(), worker(), worker()]);
    onEach(out);
  }

  function marketCard(record, marketId) {
    const mr = record.markets[marketId];
    const chartHolder = h("div", { class: "chart", dataset: { market: marketId } });
    const facts = kv([
      ["clearing price", priceCell(marketId, mr.price)],
      ["volume", `${fmtInt(mr.volume)} lots`],
      ["demand at price", fmtInt(mr.buy_volume)],
      ["supply at price", fmtInt(mr.sell_volume)],
      ["imbalance", fmtInt(mr.imbalance)],
      ["reference price", priceCell(marketId, mr.reference_price)],
      ["orders", fmtInt(mr.orders)],
      ["market orders", `buy ${fmtInt(mr.curves.market_buy)} · sell ${fmtInt(mr.curves.market_sell)}`],
    ]);
    const card = h(
      "section",
      { class: "card market", dataset: { market: marketId, price: mr.price ?? "", volume: mr.volume } },
      h("h2", {}, `${marketId}`),
      facts,
    );
    if (mr.curves.prices.length === 0) {
      card.append(h("p", { class: "muted" }, "No limit orders in this market in this batch: no curves to draw."));
    } else {
      card.append(
        chartHolder,
        h("p", { class: "hint muted" }, "Drag across the chart to zoom, double-click to reset; hover for D(p) and S(p)."),
      );
    }
    card.append(h("p", { class: "marginal" }, marginalText(marketId, mr)));
    if (mr.fills.length) {
      const rowsNow = fillRows(marketId, mr.fills, new Map());
      const tbl = sortableTable(
        ["order", "trader", "side", "filled", "price", "limit", "ordered", "outcome"],
        rowsNow,
        (r) => r.order_id,
      );
      card.append(h("h3", {}, `Fills (${mr.fills.length})`), tbl);
      loadFates(
        mr.fills.map((f) => f.order_id),
        (fates) => {
          const t = tbl.querySelector("table");
          if (t && t.redraw) t.redraw(fillRows(marketId, mr.fills, fates));
        },
      );
    } else {
      card.append(h("p", { class: "muted" }, "No fills."));
    }
    return { card, chartHolder };
  }

  function settlementCard(record) {
    const s = record.settlement;
    if (!s) return section("Settlement", h("p", { class: "muted" }, "Not settled."));
    if (!s.settled) {
      return section(
        "Settlement",
        h("p", { class: "warn" }, `Settlement refused this batch: ${s.error || "no reason given"}`),
      );
    }
    const fundingRows = Object.entries(s.funding || {}).map(([m, f]) =>
      h(
        "tr",
        {},
        h("th", { scope: "row" }, m),
        h("td", { class: "num" }, priceCell(m, (s.readings[m] || {}).index)),
        h("td", {}, (s.readings[m] || {}).flagged ? `flagged: ${s.readings[m].reason}` : "ok"),
        h("td", { class: "num" }, f.premium_ticks === null ? "–" : fmtInt(f.premium_ticks)),
        h("td", { class: "num" }, `${fmtInt(f.rate_ppm)} ppm`),
        h("td", { class: "num" }, fmtInt(f.funding_index)),
      ),
    );
    return section(
      "Settlement and state roots",
      kv([
        ["pre-state root", hexCell(s.pre_root, 18)],
        ["post-state root", hexCell(s.post_root, 18)],
        ["oracle round", s.oracle_round ? `#${s.oracle_round.round_id}, ${s.oracle_round.reports} reports` : "–"],
        ["fees", fmtInt(s.fees)],
        ["fee pool", fmtInt(s.fee_pool)],
        ["insurance fund", fmtInt(s.insurance_fund)],
        ["liquidations", fmtInt(s.liquidations)],
        ["deficits", fmtInt((s.deficits || []).length)],
        ["breakers tripped", (s.tripped || []).length ? s.tripped.join(", ") : "none"],
        ["result hash", hexCell(record.result_hash, 18)],
      ]),
      table(["market", "index", "oracle", "premium (ticks)", "funding rate", "funding index"], fundingRows),
    );
  }

  function forfeitsCard(record) {
    const rows = (record.forfeits || []).map((f) =>
      h(
        "tr",
        {},
        h("td", {}, h("a", { href: `#/order/${f.commitment}` }, hexCell(f.commitment))),
        h("td", {}, hexCell(f.trader)),
        h("td", {}, f.market),
        h("td", { class: "num" }, fmtInt(f.bond)),
      ),
    );
    const rej = (record.rejections || []).map((r) =>
      h(
        "tr",
        {},
        h("td", {}, h("a", { href: `#/order/${r.commitment}` }, hexCell(r.commitment))),
        h("td", {}, r.code),
        h("td", { class: "wrap" }, r.reason),
      ),
    );
    return section(
      "Forfeits and refused reveals",
      rows.length
        ? table(["commitment", "trader", "market", "bond to insurance fund"], rows)
        : h("p", { class: "muted" }, "No forfeits: every commitment was revealed."),
      rej.length ? table(["commitment", "code", "why"], rej) : h("p", { class: "muted" }, "No refused reveals."),
    );
  }

  function blocksCard(record) {
    const rows = (record.blocks || []).map((b) =>
      h(
        "tr",
        {},
        h("td", {}, hexCell(b.rfq_id)),
        h("td", {}, b.market),
        h("td", { class: "num" }, priceCell(b.market, b.price)),
        h("td", { class: "num" }, fmtInt(b.quantity)),
        h("td", {}, hexCell(b.buyer)),
        h("td", {}, hexCell(b.seller)),
        h("td", {}, statusBadge(b.status === "filled" ? "settled" : "failed"), b.reason ? ` ${b.reason}` : ""),
        h("td", {}, b.band ? `${fmtPrice(b.market, b.band[0])} – ${fmtPrice(b.market, b.band[1])}` : "–"),
      ),
    );
    return section(
      "RFQ blocks",
      rows.length
        ? table(["rfq", "market", "price", "lots", "buyer", "seller", "status", "band"], rows)
        : h("p", { class: "muted" }, "No block trades settled in this batch."),
    );
  }

  async function proofCard(record) {
    const holder = section("Proof and L1");
    const p = record.proof;
    const proven = record.status === "proven" || record.status === "anchored";
    if (p && p.error) {
      holder.append(
        h("p", { class: "warn", dataset: { proof: "failed" } }, `Proving halted at this batch: ${p.error}`),
      );
    } else if (!proven || !p) {
      holder.append(
        h("p", { class: "pending", dataset: { proof: "none" } }, "Not proven yet: the STARK proof of this batch is not published."),
      );
    } else {
      holder.append(
        kv([
          ["size", `${fmtInt(p.size_bytes)} bytes`],
          ["verified", p.verified ? `valid (${p.conjectured_bits} conjectured bits, ${p.verify_ms} ms)` : "INVALID"],
          ["proved in", `${p.prove_s} s`],
          [
            "download",
            h("a", { href: `/v1/batches/${record.batch_id}/proof`, download: `batch-${record.batch_id}-proof.bin` }, "proof.bin"),
          ],
        ]),
      );
    }
    const a = record.anchor;
    if (!a) {
      holder.append(h("p", { class: "pending", dataset: { anchor: "none" } }, "Not anchored yet: no L1 transaction for this batch."));
    } else {
      holder.append(
        kv(Object.entries(a).map(([k, v]) => [k, typeof v === "string" && v.startsWith("0x") ? hexCell(v, 18) : String(v)])),
      );
    }
    return holder;
  }

  async function fetchRecord(id) {
    if (state.records.has(id)) return { ok: true, body: state.records.get(id) };
    const r = await getJson(`/v1/batches/${id}`);
    if (r.ok && r.body.status !== "committed") remember(r.body);
    return r;
  }

  async function renderBatch(id) {
    const view = document.getElementById("view");
    state.charts = {};
    const r = await fetchRecord(id);
    if (state.view.key !== `batch:${id}`) return;
    if (!r.ok) {
      view.replaceChildren(
        h("p", { class: "warn notfound" }, r.status === 404 ? `There is no batch #${id}: never opened, or it held nothing.` : `Batch #${id} could not be read (${r.status}).`),
        h("p", {}, h("a", { href: "#/" }, "← all batches")),
      );
      return;
    }
    const rec = r.body;
    const head = section(
      `Batch #${id}`,
      statusTrack(rec.status),
      kv([
        ["status", statusBadge(rec.status, rec.phase)],
        ["commit window", rec.windows ? `${new Date(rec.windows.commit_open_ms).toISOString()} + ${rec.windows.commit_close_ms - rec.windows.commit_open_ms} ms` : "–"],
        ["reveals until", rec.windows ? new Date(rec.windows.reveal_close_ms).toISOString() : "–"],
        ["commitments", fmtInt(rec.commitments)],
        ["revealed", fmtInt(rec.revealed)],
        ["GTC carried in / out", rec.carried_in === undefined ? "–" : `${fmtInt(rec.carried_in)} / ${fmtInt(rec.carried_out)}`],
        ["tie-break seed", rec.seed ? hexCell(rec.seed, 18) : "–"],
      ]),
      h("p", {}, h("a", { href: "#/" }, "← all batches"), id > 0 ? [" · ", h("a", { href: `#/batch/${id - 1}` }, "previous")] : null, " · ", h("a", { href: `#/batch/${id + 1}` }, "next")),
    );
    view.dataset.batchId = id;
    if (rec.status === "committed") {
      view.replaceChildren(
        head,
        section("Sealed", h("p", { class: "pending" }, "Orders stay sealed until the batch clears; this page fills in when it does.")),
      );
      return;
    }
    const cards = [];
    const charts = [];
    for (const m of Object.keys(rec.markets).sort()) {
      const { card, chartHolder } = marketCard(rec, m);
      cards.push(card);
      if (rec.markets[m].curves.prices.length) charts.push([m, rec.markets[m], chartHolder]);
    }
    view.replaceChildren(head, ...cards, forfeitsCard(rec), blocksCard(rec), settlementCard(rec));
    for (const [m, mr, holder] of charts) makeChart(m, mr, holder);
    const proof = await proofCard(rec);
    if (state.view.key === `batch:${id}`) view.append(proof);
  }

  // ---------------------------------------------------------------- order page

  const COMMITMENT = /^0x[0-9a-fA-F]{64}$/;

  async function renderOrder(commitment) {
    const view = document.getElementById("view");
    const back = h("p", {}, h("a", { href: "#/" }, "← all batches"));
    if (!COMMITMENT.test(commitment)) {
      view.replaceChildren(
        section(
          "Order lookup",
          h("p", { class: "warn notfound" }, `Not a commitment: expected 0x and 64 hex digits, got "${commitment.slice(0, 80)}".`),
          back,
        ),
      );
      return;
    }
    const r = await getJson(`/v1/orders/${commitment}`);
    if (state.view.key !== `order:${commitment}`) return;
    if (r.status === 404) {
      view.replaceChildren(
        section(
          "Order lookup",
          h("p", { class: "warn notfound" }, "Unknown commitment: this venue never took an order with commitment ", hexCell(commitment, 66), "."),
          h("p", { class: "muted" }, "Check the value against your signed receipt; a commitment refused at submission leaves no record."),
          back,
        ),
      );
      return;
    }
    if (!r.ok) {
      view.replaceChildren(section("Order lookup", h("p", { class: "warn" }, `The order could not be read (${r.status}): ${(r.body && r.body.detail) || ""}`), back));
      return;
    }
    const f = r.body;
    const sealed = f.status === "committed" || f.status === "revealed";
    const o = f.order;
    view.dataset.orderBatch = f.batch_id;
    view.replaceChildren(
      section(
        "Order",
        kv([
          ["commitment", hexCell(f.commitment, 66)],
          ["batch", h("a", { href: `#/batch/${f.batch_id}` }, `#${f.batch_id}`)],
          ["market", f.market],
          ["trader", hexCell(f.trader, 42)],
          ["status", statusBadge(f.status === "filled" ? "settled" : sealed ? "committed" : f.status === "forfeited" ? "failed" : "cleared", f.status)],
          ["reason", f.reason || "–"],
          ["detail", f.detail || "–"],
          ["filled", `${fmtInt(f.filled)} lots${f.share ? ` (share ${f.share})` : ""}`],
          ["price", priceCell(f.market, f.price)],
          ["bond", fmtInt(f.bond)],
        ]),
        sealed
          ? h("p", { class: "pending" }, `Sealed until batch #${f.batch_id} clears: the order's terms and outcome appear here then.`)
          : o
            ? kv([
                ["side", o.side],
                ["limit", o.limit_price === null ? "market" : priceCell(f.market, o.limit_price)],
                ["quantity", `${fmtInt(o.quantity)} lots`],
                ["time in force", o.time_in_force],
                ["reduce only", o.reduce_only ? "yes" : "no"],
              ])
            : h("p", { class: "muted" }, "The order was never revealed."),
        back,
      ),
    );
  }

  // ------------------------------------------------------------------ routing

  function route() {
    const hash = location.hash || "#/";
    let m;
    state.charts = {};
    delete document.getElementById("view").dataset.batchId;
    delete document.getElementById("view").dataset.orderBatch;
    if ((m = hash.match(/^#\/batch\/(\d+)$/))) {
      state.view = { key: `batch:${m[1]}`, kind: "batch", id: Number(m[1]) };
      document.title = `batch #${m[1]} · sealbatch explorer`;
      return renderBatch(Number(m[1]));
    }
    if ((m = hash.match(/^#\/order\/(.*)$/))) {
      const c = decodeURIComponent(m[1]).trim();
      state.view = { key: `order:${c}`, kind: "order", commitment: c };
      document.title = "order · sealbatch explorer";
      return renderOrder(c);
    }
    state.view = { key: "overview", kind: "overview" };
    document.title = "sealbatch explorer";
    renderOverview();
    return Promise.resolve();
  }

  function onBatchMessage(msg) {
    const rec = msg.data;
    remember(rec);
    state.fresh.add(rec.batch_id);
    setTimeout(() => state.fresh.delete(rec.batch_id), 3000);
    const v = state.view;
    // Prices, marks and breakers move with each batch: read them when one lands.
    loadMarkets().then(() => {
      if (state.view.kind === "overview") refreshOverview();
    });
    if (v.kind === "overview") refreshOverview();
    else if (v.kind === "batch" && v.id === rec.batch_id) renderBatch(v.id);
    else if (v.kind === "order") {
      const b = Number(document.getElementById("view").dataset.orderBatch);
      if (b === rec.batch_id || b === rec.batch_id - 1) renderOrder(v.commitment);
    }
  }

  function onSnapshot(data) {
    for (const rec of data.recent || []) remember(rec);
    state.lastCleared = Math.max(state.lastCleared, data.last_cleared);
    if (state.view && state.view.kind === "overview") refreshOverview();
  }

  async function start() {
    await Promise.all([loadInfo(), loadMarkets()]);
    await loadBatches();
    document.getElementById("lookup").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = document.getElementById("lookup-input").value.trim();
      location.hash = `#/order/${encodeURIComponent(value)}`;
    });
    window.addEventListener("hashchange", route);
    window.addEventListener("resize", () => {
      for (const [m, chart] of Object.entries(state.charts)) {
        const holder = document.querySelector(`.chart[data-market="${m}"]`);
        if (holder) chart.setSize({ width: Math.max(240, holder.clientWidth), height: 280 });
      }
    });
    // The open batches' countdown runs on the local clock: no requests.
    setInterval(() => {
      const open = document.querySelector("tbody.open-batches");
      if (open) open.replaceChildren(...openBatchRows());
    }, 500);
    const stream = new TopicStream("batches", { snapshot: onSnapshot, message: onBatchMessage, status: setLive });
    window.sealbatchExplorer = { state, stream, curveData, marginal };
    await route();
    stream.connect();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
