// The review & editing screen: wires the viewer, the tools, the websocket and the side panels.
// Everything shown that came from people (names, comments) goes in with textContent.
import { Viewer } from "./viewer.js";
import { ImageSocket } from "./socket.js";
import { BrushTool, PenTool, PinTool, MeasureTool, HandTool } from "./tools.js";
import { strokeBounds, pathBounds, parsePath } from "./geometry.js";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== false && v != null) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}
function colourFor(id) { return `hsl(${(Number(id) * 137.508) % 360} 80% 60%)`; }
// CIELAB (D65) -> sRGB hex, for showing a measured colour as a chip
function labToHex([L, a, b]) {
  const fy = (L + 16) / 116, fx = fy + a / 500, fz = fy - b / 200;
  const inv = (f) => (f ** 3 > 0.008856 ? f ** 3 : (116 * f - 16) / 903.3);
  const X = 0.95047 * inv(fx), Y = 1.0 * inv(fy), Z = 1.08883 * inv(fz);
  const lin = [3.2404542 * X - 1.5371385 * Y - 0.4985314 * Z, -0.969266 * X + 1.8760108 * Y + 0.041556 * Z,
    0.0556434 * X - 0.2040259 * Y + 1.0572252 * Z];
  const g = (c) => Math.round(255 * Math.min(1, Math.max(0, c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055)));
  return `#${lin.map((c) => g(c).toString(16).padStart(2, "0")).join("")}`;
}
function csrf() { const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/); return m ? decodeURIComponent(m[1]) : ""; }

export class Editor {
  constructor(cfg) {
    this.cfg = cfg;
    this.me = cfg.me;
    this.stage = $("#jr-stage");
    this.viewer = new Viewer(this.stage, { tiles: cfg.tiles, urls: cfg.urls, headSeq: cfg.head_seq });
    this.pending = new Map(); // client_id -> {op, seq, bounds}: my edits not yet in the tiles
    this.remote = new Map(); // seq -> op: others' edits not yet in the tiles
    this.cursors = new Map(); // conn -> {user, x, y, t}
    this.presence = new Map(); // conn -> user
    this.comments = new Map(cfg.comments.map((c) => [c.id, c]));
    this.history = [];
    this.stabiliserKey = `jr:${this.me.id}:stabiliser`;
    this.stabiliser = Number(localStorage.getItem(this.stabiliserKey) || 0); // off by default
    this.tools = {
      hand: new HandTool(this), brush: new BrushTool(this), pen: new PenTool(this),
      comment: new PinTool(this), measure: new MeasureTool(this),
    };
    const savedRadius = Number(localStorage.getItem(`jr:${this.me.id}:radius`));
    if (savedRadius > 0) this.tools.brush.radius = savedRadius;
    this.tool = cfg.can.edit_image ? this.tools.brush : this.tools.hand;
    this.viewer.previews = () => this.previewOps();
    this.viewer.overlays.push((ctx, pane, v) => this.drawOverlay(ctx, pane, v));
    const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${cfg.urls.ws}`;
    this.socket = new ImageSocket(wsUrl, cfg.head_seq);
    this.bindSocket();
    this.bindPointer();
    this.bindKeys();
    this.bindPanels();
    this.viewer.onView(() => this.viewChanged());
    this.viewChanged();
    this.toolChanged();
    this.renderComments();
    this.renderFindings();
    this.renderSwatches();
    this.loadHistory();
  }

  // ---------------------------------------------------------------- edits and previews
  submit(op) {
    if (!this.cfg.can.edit_image) { this.toast("You may not edit this image now."); return; }
    const bounds = op.type === "stroke" ? strokeBounds(op.points, op.radius)
      : op.type === "path" && op.mode !== "intersect" ? pathBounds(parsePath(op.d)) : null;
    const cid = this.socket.sendEdit({ type: "op", op });
    this.pending.set(cid, { op, seq: null, bounds, t: performance.now() });
    this.viewer.requestDraw();
    return cid;
  }
  undo() { if (this.cfg.can.edit_image) this.socket.sendEdit({ type: "undo" }); }
  redo() { if (this.cfg.can.edit_image) this.socket.sendEdit({ type: "redo" }); }
  previewOps() {
    const out = [];
    for (const p of this.pending.values()) if (p.op.type === "stroke" || p.op.type === "path") out.push(p.op);
    for (const op of this.remote.values()) if (op.type === "stroke" || op.type === "path") out.push(op);
    return out.concat(this.tool.live());
  }
  tilesArrived(seq) {
    for (const [cid, p] of this.pending) if (p.seq !== null && p.seq <= seq && (p.seq === seq || !p.bounds)) this.pending.delete(cid);
    this.remote.delete(seq);
    this.viewer.requestDraw();
  }

  bindSocket() {
    const s = this.socket;
    s.addEventListener("state", (e) => {
      const st = $("#jr-conn");
      st.dataset.state = e.detail;
      st.textContent = { open: "live", connecting: "connecting…", offline: "offline — edits are kept", refused: "no access" }[e.detail] || e.detail;
      if (e.detail !== "open") { this.presence.clear(); this.cursors.clear(); this.renderPresence(); }
    });
    s.addEventListener("welcome", (e) => { this.presence.set(e.detail.conn, e.detail.me); this.renderPresence(); });
    s.addEventListener("synced", (e) => {
      // caught up after (re)connecting: whatever changed meanwhile is fetched again
      if (e.detail.count > 0) { this.remote.clear(); this.viewer.resetRevisions(e.detail.head_seq); }
      this.loadHistory();
    });
    s.addEventListener("ack", (e) => {
      const p = this.pending.get(e.detail.client_id);
      if (p) p.seq = e.detail.seq;
    });
    s.addEventListener("op", (e) => {
      const f = e.detail;
      const mine = this.pending.get(f.client_id);
      if (mine && f.author.id === this.me.id) mine.seq = f.seq;
      else if (f.kind === "op") this.remote.set(f.seq, f.op);
      this.history.push(f);
      this.renderHistory();
      this.viewer.requestDraw();
    });
    s.addEventListener("render_ready", (e) => {
      const { seq, rect } = e.detail;
      this.viewer.renderReady(seq, rect).then(() => this.tilesArrived(seq));
    });
    s.addEventListener("error", (e) => {
      const cid = e.detail.client_id;
      if (cid && this.pending.delete(cid)) this.viewer.requestDraw();
      this.toast(e.detail.message);
    });
    s.addEventListener("presence", (e) => {
      const f = e.detail;
      if (f.event === "leave") { this.presence.delete(f.conn); this.cursors.delete(f.conn); }
      else this.presence.set(f.conn, f.user);
      this.renderPresence(); this.viewer.requestDraw();
    });
    s.addEventListener("cursor", (e) => {
      const f = e.detail;
      this.cursors.set(f.conn, { ...f, t: performance.now() });
      this.viewer.requestDraw();
    });
    s.addEventListener("comment", (e) => {
      const c = e.detail.comment;
      this.comments.set(c.id, c);
      this.renderComments();
    });
  }

  // ---------------------------------------------------------------- pointer and keys
  bindPointer() {
    const st = this.stage;
    let pan = null, swiping = false;
    // in swipe mode the divider itself can be dragged (within 8 px of it), not only the slider
    const nearDivider = (ev) => {
      const v = this.viewer;
      if (v.mode !== "swipe") return false;
      return Math.abs(ev.clientX - st.getBoundingClientRect().left - v.panes[0].w * v.swipe) <= 8;
    };
    st.addEventListener("pointerdown", (ev) => {
      if (ev.target.closest(".jr-pin")) return;
      st.focus({ preventScroll: true });
      st.setPointerCapture(ev.pointerId);
      if (ev.button === 0 && nearDivider(ev)) { swiping = true; return; }
      const p = this.viewer.eventToImage(ev);
      if (ev.button === 1 || this.spaceDown || this.tool.name === "hand" || ev.button === 2) {
        pan = { x: ev.clientX, y: ev.clientY }; st.classList.add("jr-panning"); ev.preventDefault(); return;
      }
      if (ev.button !== 0) return;
      this.tool.down(p, ev);
    });
    st.addEventListener("pointermove", (ev) => {
      const p = this.viewer.eventToImage(ev);
      st.classList.toggle("jr-on-divider", swiping || nearDivider(ev));
      if (swiping) {
        const v = this.viewer, x = ev.clientX - st.getBoundingClientRect().left;
        v.swipe = Math.min(1, Math.max(0, x / v.panes[0].w));
        $("#jr-swipe").value = String(v.swipe);
        v.requestDraw();
        return;
      }
      if (pan) { this.viewer.panBy(ev.clientX - pan.x, ev.clientY - pan.y); pan = { x: ev.clientX, y: ev.clientY }; }
      else {
        // coalesced events keep every sample of a fast stroke (not just one per frame)
        const evs = ev.getCoalescedEvents ? ev.getCoalescedEvents() : [ev];
        for (const ce of evs.length ? evs : [ev]) this.tool.move(this.viewer.eventToImage(ce), ce);
      }
      this.sendCursor(p);
      this.pointerImage = p;
      $("#jr-pos").textContent = `${Math.floor(p[0])}, ${Math.floor(p[1])} px`;
    });
    const end = (ev) => {
      if (swiping) { swiping = false; return; }
      if (pan) { pan = null; st.classList.remove("jr-panning"); return; }
      this.tool.up(this.viewer.eventToImage(ev), ev);
    };
    st.addEventListener("pointerup", end);
    st.addEventListener("pointercancel", end);
    st.addEventListener("contextmenu", (ev) => ev.preventDefault());
    st.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const r = st.getBoundingClientRect(), pane = this.viewer.paneAt(ev.clientX);
      const k = Math.exp(-ev.deltaY * (ev.deltaMode === 1 ? 0.05 : 0.0015));
      this.viewer.zoomAt(ev.clientX - r.left - pane.x, ev.clientY - r.top, this.viewer.scale * k);
    }, { passive: false });
    st.addEventListener("pointerleave", () => { this.tools.brush.pointer = null; this.viewer.requestDraw(); });
  }
  sendCursor(p) {
    const now = performance.now();
    if (now - (this.lastCursor || 0) < 50) return; // ≤ 20 per second
    this.lastCursor = now;
    this.socket.sendNow({ type: "cursor", x: Math.round(p[0] * 10) / 10, y: Math.round(p[1] * 10) / 10 });
  }
  bindKeys() {
    window.addEventListener("keydown", (ev) => {
      const typing = ev.target.closest && ev.target.closest("input, textarea, select, [contenteditable]");
      const mod = ev.ctrlKey || ev.metaKey;
      if (mod && ev.key.toLowerCase() === "z") { if (typing) return; ev.preventDefault(); ev.shiftKey ? this.redo() : this.undo(); return; }
      if (mod && ev.key.toLowerCase() === "y") { if (typing) return; ev.preventDefault(); this.redo(); return; }
      if (typing || mod || ev.altKey) return;
      const v = this.viewer, step = 80;
      const keys = {
        " ": () => { this.spaceDown = true; this.stage.classList.add("jr-grab"); },
        "+": () => v.zoomBy(1.25), "=": () => v.zoomBy(1.25), "-": () => v.zoomBy(0.8),
        "0": () => v.fit(), "1": () => v.actualSize(),
        ArrowLeft: () => v.panBy(step, 0), ArrowRight: () => v.panBy(-step, 0),
        ArrowUp: () => v.panBy(0, step), ArrowDown: () => v.panBy(0, -step),
        b: () => this.setTool("brush"), p: () => this.setTool("pen"), h: () => this.setTool("hand"),
        c: () => this.setTool("comment"), m: () => this.setTool("measure"),
        x: () => { const b = this.tools.brush; b.mode = b.mode === "keep" ? "remove" : "keep"; this.toolChanged(); },
        "[": () => this.tools.brush.smaller(), "]": () => this.tools.brush.bigger(),
        Enter: () => { if (this.tool.name === "pen") this.tools.pen.apply(); },
        Escape: () => this.tool.cancel(),
        Backspace: () => { if (this.tool.name === "pen") this.tools.pen.removeLast(); },
        e: () => this.toggle("#jr-edge"), g: () => this.toggle("#jr-grid"),
      };
      const fn = keys[ev.key];
      if (!fn) return;
      if (ev.key === " " || ev.key.startsWith("Arrow") || ev.key === "Backspace") {
        if (ev.target === document.body || ev.target === this.stage) ev.preventDefault();
        else if (ev.key !== " ") return;
        else ev.preventDefault();
      }
      fn();
    });
    window.addEventListener("keyup", (ev) => {
      if (ev.key === " ") { this.spaceDown = false; this.stage.classList.remove("jr-grab"); }
    });
  }
  toggle(sel) { const c = $(sel); c.checked = !c.checked; c.dispatchEvent(new Event("change")); }
  setTool(name) {
    if ((name === "brush" || name === "pen") && !this.cfg.can.edit_image) { this.toast("You may not edit this image now."); return; }
    if (name === "comment" && !this.cfg.can.comment) return;
    this.tool.cancel();
    this.tool = this.tools[name];
    this.toolChanged();
  }
  toolChanged() {
    const b = this.tools.brush, pen = this.tools.pen;
    for (const btn of $$("[data-tool]")) btn.setAttribute("aria-pressed", String(btn.dataset.tool === this.tool.name));
    this.stage.dataset.tool = this.tool.name;
    $("#jr-brush-opts").hidden = this.tool.name !== "brush";
    $("#jr-pen-opts").hidden = this.tool.name !== "pen";
    $("#jr-radius").value = b.radius; $("#jr-radius-out").textContent = `${b.radius} px`;
    $("#jr-hardness").value = b.hardness; $("#jr-opacity").value = b.opacity;
    for (const r of $$("input[name=jr-bmode]")) r.checked = r.value === b.mode;
    $("#jr-stab").value = this.stabiliser; $("#jr-stab-out").textContent = this.stabiliser ? `${this.stabiliser} px` : "off";
    $("#jr-penmode").value = pen.mode; $("#jr-evenodd").checked = pen.evenodd;
    $("#jr-pen-count").textContent = `${pen.subs.reduce((n, s) => n + s.anchors.length, 0)} anchors`;
    localStorage.setItem(`jr:${this.me.id}:radius`, String(b.radius));
    this.viewer.requestDraw();
  }
  viewChanged() {
    const z = Math.round(this.viewer.scale * 100);
    $("#jr-zoom").textContent = `${z} %`;
    this.positionPins();
  }

  // ---------------------------------------------------------------- overlay: cursors, findings, tool
  drawOverlay(ctx, pane, v) {
    if ($("#jr-show-findings").checked) {
      ctx.save(); ctx.strokeStyle = "rgba(255,170,0,0.9)"; ctx.setLineDash([4, 3]); ctx.lineWidth = 1.5;
      for (const f of this.cfg.findings) {
        if (f.resolved) continue;
        const [x, y] = v.toScreen(f.bbox[0], f.bbox[1]);
        ctx.strokeRect(x, y, f.bbox[2] * v.scale, f.bbox[3] * v.scale);
      }
      ctx.restore();
    }
    const now = performance.now();
    for (const [conn, c] of this.cursors) {
      if (now - c.t > 15000) { this.cursors.delete(conn); continue; }
      const [x, y] = v.toScreen(c.x, c.y), col = colourFor(c.user.id);
      ctx.save(); ctx.fillStyle = col; ctx.strokeStyle = "#000"; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + 11, y + 4); ctx.lineTo(x + 4, y + 11); ctx.closePath(); ctx.fill(); ctx.stroke();
      ctx.font = "12px system-ui, sans-serif";
      const w = ctx.measureText(c.user.name).width + 8;
      ctx.fillRect(x + 10, y + 10, w, 17); ctx.fillStyle = "#000"; ctx.fillText(c.user.name, x + 14, y + 23);
      ctx.restore();
    }
    this.tool.overlay(ctx, pane, v);
  }

  // ---------------------------------------------------------------- panels
  bindPanels() {
    const v = this.viewer;
    for (const btn of $$("[data-tool]")) btn.addEventListener("click", () => this.setTool(btn.dataset.tool));
    for (const btn of $$("[data-mode]")) btn.addEventListener("click", () => this.setMode(btn.dataset.mode));
    $("#jr-fit").addEventListener("click", () => v.fit());
    $("#jr-100").addEventListener("click", () => v.actualSize());
    $("#jr-zoom-in").addEventListener("click", () => v.zoomBy(1.25));
    $("#jr-zoom-out").addEventListener("click", () => v.zoomBy(0.8));
    $("#jr-undo").addEventListener("click", () => this.undo());
    $("#jr-redo").addEventListener("click", () => this.redo());
    $("#jr-matte").addEventListener("change", (e) => { v.matte = e.target.value; v.requestDraw(); });
    $("#jr-matte-colour").addEventListener("input", (e) => { v.matte = "custom"; v.customMatte = e.target.value; $("#jr-matte").value = "custom"; v.requestDraw(); });
    $("#jr-onion").addEventListener("input", (e) => { v.onion = Number(e.target.value); v.requestDraw(); });
    $("#jr-swipe").addEventListener("input", (e) => { v.swipe = Number(e.target.value); v.requestDraw(); });
    $("#jr-edge").addEventListener("change", (e) => { v.showEdge = e.target.checked; v.requestDraw(); });
    $("#jr-grid").addEventListener("change", (e) => { v.showGrid = e.target.checked; v.requestDraw(); });
    $("#jr-show-findings").addEventListener("change", () => v.requestDraw());
    const b = this.tools.brush, pen = this.tools.pen;
    $("#jr-radius").addEventListener("input", (e) => b.setRadius(Number(e.target.value)));
    $("#jr-hardness").addEventListener("input", (e) => { b.hardness = Number(e.target.value); v.requestDraw(); });
    $("#jr-opacity").addEventListener("input", (e) => { b.opacity = Number(e.target.value); v.requestDraw(); });
    for (const r of $$("input[name=jr-bmode]")) r.addEventListener("change", () => { b.mode = r.value; this.toolChanged(); });
    $("#jr-stab").addEventListener("input", (e) => {
      this.stabiliser = Number(e.target.value);
      localStorage.setItem(this.stabiliserKey, String(this.stabiliser)); // remembered per person
      this.toolChanged();
    });
    $("#jr-penmode").addEventListener("change", (e) => { pen.mode = e.target.value; v.requestDraw(); });
    $("#jr-evenodd").addEventListener("change", (e) => { pen.evenodd = e.target.checked; v.requestDraw(); });
    $("#jr-pen-apply").addEventListener("click", () => pen.apply());
    $("#jr-pen-cancel").addEventListener("click", () => pen.cancel());
    $("#jr-pen-ai").addEventListener("click", async () => {
      const res = await fetch(this.cfg.urls.ai_path, { credentials: "same-origin" });
      const { d } = await res.json();
      if (d) { this.setTool("pen"); pen.load(d); } else this.toast("This image has no traced AI path.");
    });
    $("#jr-pen-ai").disabled = !this.cfg.image.has_ai_path;
    // side panel tabs (WAI-ARIA tabs: Tab reaches the selected one, arrows/Home/End move between them)
    const tabs = $$("[role=tab]");
    const select = (tab) => {
      for (const t of tabs) {
        const on = t === tab;
        t.setAttribute("aria-selected", String(on)); t.tabIndex = on ? 0 : -1;
        $(`#${t.getAttribute("aria-controls")}`).hidden = !on;
      }
    };
    tabs.forEach((tab, i) => {
      tab.tabIndex = tab.getAttribute("aria-selected") === "true" ? 0 : -1;
      tab.addEventListener("click", () => select(tab));
      tab.addEventListener("keydown", (ev) => {
        const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
        if (to === undefined) return;
        ev.preventDefault();
        const next = tabs[(to + tabs.length) % tabs.length];
        select(next); next.focus();
      });
    });
    this.bindRefine();
    this.bindDecisions();
    $("#jr-compare-ai").addEventListener("click", () => { v.compareRev = 0; this.setMode("diff"); });
    $("#jr-swatch").addEventListener("change", () => this.renderSwatches());
    $("#jr-measure").addEventListener("click", () => this.setTool("measure"));
    $("#jr-comment-form").addEventListener("submit", (e) => { e.preventDefault(); this.sendComment(); });
    $("#jr-comment-cancel").addEventListener("click", () => { $("#jr-comment-form").hidden = true; });
  }
  setMode(mode) {
    this.viewer.setMode(mode);
    for (const btn of $$("[data-mode]")) btn.setAttribute("aria-pressed", String(btn.dataset.mode === mode));
    $("#jr-onion-wrap").hidden = mode !== "onion";
    $("#jr-swipe-wrap").hidden = mode !== "swipe";
    $("#jr-compare-label").textContent = mode === "diff" ? `Difference: revision ${this.viewer.compareRev} → now` : "";
  }

  refineOp() {
    const val = (id) => Number($(id).value);
    const kind = $("#jr-refine-kind").value;
    if (kind === "cleanup") {
      const op = { type: "cleanup", min_speck: val("#jr-speck"), min_hole: val("#jr-hole"), region: null };
      if ($("#jr-cleanup-region").checked && this.tools.pen.d) op.region = this.tools.pen.d;
      return op;
    }
    return { type: "refine", shift_edge: val("#jr-shift"), contrast: val("#jr-contrast"), feather: val("#jr-feather"), smooth: val("#jr-smooth") };
  }
  bindRefine() {
    if (!$("#jr-refine")) return; // only for people who may edit
    const update = () => {
      const kind = $("#jr-refine-kind").value;
      $("#jr-refine-edge").hidden = kind !== "refine";
      $("#jr-refine-cleanup").hidden = kind !== "cleanup";
      for (const o of $$("output[data-for]")) o.textContent = $(`#${o.dataset.for}`).value;
      if ($("#jr-refine-preview").checked) this.previewRefine();
    };
    for (const i of $$("#jr-refine input, #jr-refine select")) i.addEventListener("input", update);
    $("#jr-refine-preview").addEventListener("change", (e) => { if (!e.target.checked) this.viewer.setMaskOverride(null); else update(); });
    $("#jr-refine-apply").addEventListener("click", () => {
      $("#jr-refine-preview").checked = false; this.viewer.setMaskOverride(null);
      this.submit(this.refineOp());
    });
    update();
  }
  previewRefine() {
    // the server renders the mask with this op on top, tile by tile; nothing is stored
    const q = encodeURIComponent(JSON.stringify(this.refineOp()));
    this.viewer.setMaskOverride(`${this.cfg.urls.preview.replace("{rev}", this.viewer.revs.head)}?op=${q}`);
  }
  bindDecisions() {
    const box = $("#jr-decisions");
    for (const d of this.cfg.decisions) {
      const label = { submit: "Submit for review", send_back: "Send back…", send_to_client: "Send to client",
        approve: "Approve", request_changes: "Request changes…" }[d.action];
      box.append(el("button", { type: "button", class: `jr-btn jr-decide jr-decide-${d.action}`, "data-action": d.action,
        onclick: () => this.decide(d) , text: label }));
    }
  }
  async decide(d) {
    const body = new URLSearchParams(); // form-encoded: an empty multipart body is refused
    if (d.action === "send_back" || d.action === "request_changes") {
      const reason = window.prompt("What needs to change?");
      if (!reason) return;
      body.append("reason", reason);
    }
    const res = await fetch(d.url, { method: "POST", body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(), Accept: "application/json" } });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) { this.toast(`Refused: ${data.error || res.statusText}`); return; }
    this.toast("Done."); setTimeout(() => location.reload(), 400);
  }
  renderPresence() {
    const box = $("#jr-presence");
    box.replaceChildren();
    const seen = new Set();
    for (const u of this.presence.values()) {
      if (seen.has(u.id)) continue;
      seen.add(u.id);
      box.append(el("li", { class: "jr-person", style: `--c:${colourFor(u.id)}`, text: u.id === this.me.id ? `${u.name} (you)` : u.name }));
    }
  }
  renderFindings() {
    const list = $("#jr-findings");
    list.replaceChildren();
    if (!this.cfg.findings.length) list.append(el("li", { class: "jr-muted", text: "No automatic findings." }));
    for (const f of this.cfg.findings) {
      const [x, y, w, h] = f.bbox;
      list.append(el("li", {}, el("button", {
        type: "button", class: "jr-finding", "data-kind": f.kind,
        onclick: () => this.viewer.centreOn(x + w / 2, y + h / 2, 3),
      }, el("strong", { text: f.kind.replaceAll("_", " ") }), ` ${Math.round(f.severity * 100)} % · `, el("span", { text: f.message }))));
    }
  }

  // comments: pins on the picture, threads beside it
  composeComment(p) {
    this.draft = p;
    const form = $("#jr-comment-form");
    form.hidden = false; form.dataset.parent = "";
    $("#jr-comment-where").textContent = `at ${Math.round(p[0])}, ${Math.round(p[1])} px`;
    $("[aria-controls=jr-tab-comments]").click();
    $("#jr-comment-body").focus();
  }
  reply(parent) {
    const form = $("#jr-comment-form");
    form.hidden = false; form.dataset.parent = String(parent.id);
    $("#jr-comment-where").textContent = `reply to ${parent.author.name}`;
    $("#jr-comment-body").focus();
  }
  sendComment() {
    const form = $("#jr-comment-form"), body = $("#jr-comment-body").value.trim();
    if (!body) return;
    const msg = { type: "comment", body };
    if (form.dataset.parent) msg.parent = Number(form.dataset.parent);
    else { msg.x = this.draft[0]; msg.y = this.draft[1]; }
    this.socket.send(msg);
    $("#jr-comment-body").value = ""; form.hidden = true;
  }
  renderComments() {
    const list = $("#jr-comments"), pins = $("#jr-pins");
    list.replaceChildren(); pins.replaceChildren();
    const roots = [...this.comments.values()].filter((c) => !c.parent);
    roots.forEach((c, i) => {
      const replies = [...this.comments.values()].filter((r) => r.parent === c.id);
      const jump = () => this.viewer.centreOn(c.x, c.y, Math.max(this.viewer.scale, 2));
      const li = el("li", { class: `jr-thread${c.resolved ? " jr-resolved" : ""}` },
        el("div", { class: "jr-comment-head" }, el("button", { type: "button", class: "jr-pin-no", onclick: jump, text: String(i + 1), "aria-label": `Show comment ${i + 1} on the picture` }),
          el("strong", { text: c.author.name }), el("span", { class: "jr-muted", text: c.resolved ? " · resolved" : "" })),
        el("p", { text: c.body }),
        ...replies.map((r) => el("p", { class: "jr-reply" }, el("strong", { text: `${r.author.name}: ` }), el("span", { text: r.body }))));
      if (this.cfg.can.comment) {
        li.append(el("div", { class: "jr-row" },
          el("button", { type: "button", class: "jr-btn jr-small", onclick: () => this.reply(c), text: "Reply" }),
          el("button", { type: "button", class: "jr-btn jr-small", onclick: () => this.socket.send({ type: "resolve", comment_id: c.id, resolved: !c.resolved }), text: c.resolved ? "Reopen" : "Resolve" })));
      }
      list.append(li);
      if (!c.resolved) {
        const pin = el("button", { type: "button", class: "jr-pin", "data-x": c.x, "data-y": c.y, text: String(i + 1), "aria-label": `Comment ${i + 1} by ${c.author.name}`, onclick: () => { $("[aria-controls=jr-tab-comments]").click(); li.scrollIntoView({ block: "nearest" }); } });
        pins.append(pin);
      }
    });
    if (!roots.length) list.append(el("li", { class: "jr-muted", text: "No comments yet. Press C and click the picture to pin one." }));
    this.positionPins();
  }
  positionPins() {
    const pane = this.viewer.panes[this.viewer.panes.length - 1];
    for (const pin of $$("#jr-pins .jr-pin")) {
      const [x, y] = this.viewer.toScreen(Number(pin.dataset.x), Number(pin.dataset.y));
      pin.style.transform = `translate(${Math.round(x + pane.x)}px, ${Math.round(y)}px)`;
    }
  }

  // colour: the reference swatch beside the measured colour, with ΔE2000
  renderSwatches() {
    const sel = $("#jr-swatch");
    if (!sel.options.length) for (const s of this.cfg.swatches) sel.append(el("option", { value: s.id, text: s.name }));
    $("#jr-colour-panel").hidden = !this.cfg.swatches.length;
    $("#jr-no-swatch").hidden = !!this.cfg.swatches.length;
    const s = this.cfg.swatches.find((w) => String(w.id) === sel.value);
    if (!s) return;
    $("#jr-chip-ref").style.background = s.hex; $("#jr-chip-ref-label").textContent = `${s.name} · L ${s.lab[0].toFixed(1)} a ${s.lab[1].toFixed(1)} b ${s.lab[2].toFixed(1)}`;
    this.showMeasurement(s.check ? { ...s.check, tolerance: s.tolerance } : null);
  }
  showMeasurement(m) {
    $("#jr-chip-measured").style.background = m ? m.measured_hex : "transparent";
    const de = $("#jr-delta-e");
    if (!m) { de.textContent = "Not measured yet: press M and drag over the metal."; de.dataset.passed = ""; return; }
    de.textContent = `ΔE2000 ${Number(m.delta_e).toFixed(2)} (tolerance ${m.tolerance}) — ${m.passed ? "within" : "OUTSIDE"}`;
    de.dataset.passed = String(m.passed);
  }
  async measure(rect) {
    const sel = $("#jr-swatch");
    if (!sel.value) { this.toast("This collection has no swatch to compare with."); return; }
    const body = new URLSearchParams({ swatch: sel.value, x: rect[0], y: rect[1], w: rect[2], h: rect[3] });
    const res = await fetch(this.cfg.urls.colour, {
      method: "POST", body, credentials: "same-origin", headers: { "X-CSRFToken": csrf(), Accept: "application/json" },
    });
    const data = res.headers.get("content-type", "").includes("json") ? await res.json() : { error: await res.text() };
    if (!res.ok) { this.toast(data.error || "Could not measure."); return; }
    const s = this.cfg.swatches.find((w) => String(w.id) === sel.value);
    const m = { ...data, rect, measured_hex: labToHex(data.measured_lab), tolerance: s ? s.tolerance : "" };
    if (s) s.check = m;
    $("[aria-controls=jr-tab-colour]").click();
    this.showMeasurement(m);
  }

  // revision history with "compare with …"
  async loadHistory() {
    try {
      const res = await fetch(this.cfg.urls.history, { credentials: "same-origin" });
      if (!res.ok) return;
      const data = await res.json();
      this.history = data.entries;
      this.renderHistory();
    } catch (e) { /* offline: the list catches up on the next sync */ }
  }
  renderHistory() {
    const list = $("#jr-history");
    list.replaceChildren();
    const seen = new Set();
    const rows = this.history.filter((h) => !seen.has(h.seq) && seen.add(h.seq)).sort((a, b) => b.seq - a.seq).slice(0, 200);
    for (const h of rows) {
      const what = h.kind === "op" ? `${(h.op_type || (h.op && h.op.type) || "op")} ${(h.mode || (h.op && h.op.mode) || "")}` : `${h.kind} of #${h.target}`;
      list.append(el("li", {}, el("span", { class: "jr-seq", text: `#${h.seq}` }), el("span", { text: ` ${what} · ` }), el("span", { text: h.author.name }),
        el("button", { type: "button", class: "jr-btn jr-small", text: "Compare", "aria-label": `Compare revision ${h.seq} with now`,
          onclick: () => { this.viewer.compareRev = h.seq; this.setMode("diff"); } })));
    }
  }

  toast(msg) {
    const t = $("#jr-toast");
    t.textContent = msg; t.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => { t.hidden = true; }, 4000);
  }
}

const cfg = JSON.parse(document.getElementById("jr-config").textContent);
window.jrEditor = new Editor(cfg);
