// The tiled viewer: one or two canvas panes showing the deep-zoom tiles of the current view,
// in one of the compare modes, over a matte. Only visible tiles are fetched and drawn; above
// 100 % they are drawn without smoothing (one image pixel = a hard-edged square), with a pixel
// grid from 800 %. Tools draw their vector previews and cursors through `overlays`.
import { clamp, footprint, intersects, parsePath, pathBounds, strokeBounds } from "./geometry.js";
import { Pyramid, TileCache, MaskRevisions } from "./tiles.js";

export const MIN_ZOOM = 0.1, MAX_ZOOM = 8; // 10 %–800 %
export const MATTES = {
  checker: null, white: "#ffffff", black: "#000000", lightgrey: "#d9d9d9", beige: "#efe6d2",
};
const OUTSIDE = "#3b3f45"; // around the picture, so the matte's edge is visible
const COMPOSITE_LIMIT = 220;

function scratchCanvas(w, h) {
  const c = document.createElement("canvas");
  c.width = Math.max(1, w); c.height = Math.max(1, h);
  return c;
}

export class Viewer {
  constructor(root, cfg) {
    this.root = root;
    this.cfg = cfg;
    this.pyramid = new Pyramid(cfg.tiles);
    this.cache = new TileCache(cfg.tileLimit || 320);
    this.revs = new MaskRevisions(this.pyramid, cfg.headSeq);
    this.composites = new Map(); // key -> canvas (LRU by insertion order)
    this.lastGood = new Map(); // layer|L|c|r -> what was drawn there last (kept while a newer one loads)
    this.edges = new Map(); // mask url -> edge segments of that tile in level pixels (edgeSegments)
    this.scale = 1; this.ox = 0; this.oy = 0;
    this.mode = "cutout"; this.matte = "checker"; this.customMatte = "#7fa7c9";
    this.onion = 0.5; this.swipe = 0.5; this.compareRev = 0;
    this.showEdge = false; this.showGrid = true;
    this.overlays = []; // fn(ctx, pane, viewer)
    this.previews = () => []; // list of {op} drawn as vectors until the server's tiles replace them
    this.listeners = { view: new Set() };
    this.frames = 0; this.lastFrameMs = 0;
    this.panes = [];
    this.makePanes(1);
    this.cache.onLoad(() => this.requestDraw());
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(root);
    this.resize();
    this.fit();
  }

  // ---------------------------------------------------------------- panes and geometry
  makePanes(n) {
    // new panes start at the old pane width, so resize() keeps the view's centre where it was
    const oldW = this.panes.length ? this.panes[0].w : 1;
    for (const p of this.panes) p.canvas.remove();
    this.panes = [];
    for (let i = 0; i < n; i++) {
      const canvas = document.createElement("canvas");
      canvas.className = "jr-pane";
      canvas.setAttribute("aria-hidden", "true");
      canvas.dataset.pane = String(i);
      this.root.insertBefore(canvas, this.root.firstChild ? this.root.children[i] || null : null);
      this.panes.push({ canvas, ctx: canvas.getContext("2d"), index: i, w: oldW, h: 1 });
    }
    this.root.classList.toggle("jr-split", n === 2);
    this.resize();
  }
  resize() {
    const dpr = window.devicePixelRatio || 1;
    const W = this.root.clientWidth || 1, H = this.root.clientHeight || 1;
    const n = this.panes.length;
    const oldW = this.panes[0] ? this.panes[0].w : W;
    this.panes.forEach((p, i) => {
      p.w = Math.floor(W / n); p.h = H; p.x = i * p.w; p.dpr = dpr;
      p.canvas.style.left = `${p.x}px`; p.canvas.style.width = `${p.w}px`; p.canvas.style.height = `${H}px`;
      p.canvas.width = Math.round(p.w * dpr); p.canvas.height = Math.round(H * dpr);
    });
    // keep the image point at the pane centre where it was
    if (this.panes[0] && oldW !== this.panes[0].w) this.ox += (this.panes[0].w - oldW) / 2;
    this.requestDraw();
  }
  paneAt(clientX) {
    const r = this.root.getBoundingClientRect();
    const x = clientX - r.left;
    return this.panes[clamp(Math.floor(x / this.panes[0].w), 0, this.panes.length - 1)];
  }
  // screen (CSS px inside a pane) <-> image px
  toImage(sx, sy) { return [(sx - this.ox) / this.scale, (sy - this.oy) / this.scale]; }
  toScreen(ix, iy) { return [ix * this.scale + this.ox, iy * this.scale + this.oy]; }
  eventToImage(ev) {
    const pane = this.paneAt(ev.clientX);
    const r = this.root.getBoundingClientRect();
    return this.toImage(ev.clientX - r.left - pane.x, ev.clientY - r.top);
  }
  zoomAt(sx, sy, scale) {
    scale = clamp(scale, MIN_ZOOM, MAX_ZOOM);
    const [ix, iy] = this.toImage(sx, sy);
    this.scale = scale;
    this.ox = sx - ix * scale; this.oy = sy - iy * scale;
    this.changed();
  }
  zoomBy(factor, sx, sy) {
    const p = this.panes[0];
    this.zoomAt(sx ?? p.w / 2, sy ?? p.h / 2, this.scale * factor);
  }
  panBy(dx, dy) { this.ox += dx; this.oy += dy; this.changed(); }
  centreOn(ix, iy, scale = this.scale) {
    const p = this.panes[0];
    this.scale = clamp(scale, MIN_ZOOM, MAX_ZOOM);
    this.ox = p.w / 2 - ix * this.scale; this.oy = p.h / 2 - iy * this.scale;
    this.changed();
  }
  fit() {
    const p = this.panes[0], { width, height } = this.pyramid;
    const s = clamp(Math.min((p.w - 32) / width, (p.h - 32) / height), MIN_ZOOM, MAX_ZOOM);
    this.centreOn(width / 2, height / 2, s);
  }
  actualSize() {
    const p = this.panes[0];
    const [ix, iy] = this.toImage(p.w / 2, p.h / 2);
    this.centreOn(ix, iy, 1);
  }
  changed() {
    for (const fn of this.listeners.view) fn(this);
    this.requestDraw();
  }
  onView(fn) { this.listeners.view.add(fn); }

  setMode(mode) {
    this.mode = mode;
    const want = mode === "side" ? 2 : 1;
    if (this.panes.length !== want) this.makePanes(want);
    this.requestDraw();
  }

  // ---------------------------------------------------------------- tile URLs and layers
  origUrl(L, c, r) { return this.cfg.urls.original.replace("{level}", L).replace("{col}", c).replace("{row}", r); }
  // A server-side preview (refine / clean-up before applying) replaces the mask tiles.
  setMaskOverride(template) { this.maskOverride = template; this.requestDraw(); }
  maskUrl(rev, L, c, r) {
    if (this.maskOverride) return this.maskOverride.replace("{level}", L).replace("{col}", c).replace("{row}", r);
    return this.cfg.urls.mask.replace("{rev}", rev).replace("{level}", L).replace("{col}", c).replace("{row}", r);
  }
  // A mask edit `seq` changed `rect` (null: everything): fetch just those tiles again.
  // Resolves when the visible ones have arrived (then the vector preview can go).
  renderReady(seq, rect) {
    this.revs.bump(seq, rect);
    const urls = this.visibleMaskUrls();
    this.requestDraw();
    return Promise.all(urls.map((u) => this.cache.load(u)));
  }
  resetRevisions(head) {
    this.revs.reset(head);
    this.requestDraw();
    return Promise.all(this.visibleMaskUrls().map((u) => this.cache.load(u)));
  }
  visibleMaskUrls() {
    const out = [];
    for (const [L, c, r] of this.visibleTiles()) out.push(this.maskUrl(this.revs.revOf(L, c, r), L, c, r));
    return out;
  }
  currentLevel(pane = this.panes[0]) { return this.pyramid.levelFor(this.scale * pane.dpr); }
  visibleRect(pane = this.panes[0]) {
    const [x0, y0] = this.toImage(0, 0), [x1, y1] = this.toImage(pane.w, pane.h);
    return [x0, y0, x1 - x0, y1 - y0];
  }
  visibleTiles(pane = this.panes[0]) {
    const L = this.currentLevel(pane);
    return this.pyramid.tilesIn(L, this.visibleRect(pane)).map(([c, r]) => [L, c, r]);
  }

  // What to draw for tile (L,c,r) of `layer`, or null while it loads. Composite layers are
  // built once per tile (and kept) from the original and mask tiles, never per frame.
  layerTile(layer, L, c, r, want) {
    const origU = this.origUrl(L, c, r);
    if (layer === "orig") { want.add(origU); return this.cache.get(origU); }
    const maskU = this.maskUrl(this.revs.revOf(L, c, r), L, c, r);
    want.add(maskU);
    if (layer === "mask") return this.cache.get(maskU);
    if (layer === "diff") {
      const otherU = this.maskUrl(Math.min(this.compareRev, this.revs.revOf(L, c, r)), L, c, r);
      want.add(otherU);
      return this.composite(`diff|${otherU}|${maskU}`, () => {
        const a = this.cache.get(otherU), b = this.cache.get(maskU);
        return a && b ? this.buildDiff(a, b) : null;
      });
    }
    want.add(origU);
    return this.composite(`${layer}|${maskU}`, () => {
      const o = this.cache.get(origU), m = this.cache.get(maskU);
      if (!o || !m) return null;
      const cv = scratchCanvas(o.width, o.height), x = cv.getContext("2d");
      if (layer === "cutout") {
        x.drawImage(o, 0, 0);
        x.globalCompositeOperation = "destination-in";
        x.drawImage(m, 0, 0);
      } else { // red: the removed part tinted red (Photoshop quick-mask style)
        x.fillStyle = "rgb(255,0,0)"; x.fillRect(0, 0, cv.width, cv.height);
        x.globalCompositeOperation = "destination-out";
        x.drawImage(m, 0, 0);
      }
      return cv;
    });
  }
  composite(key, make) {
    let cv = this.composites.get(key);
    if (cv) return cv;
    cv = make();
    if (!cv) return null;
    this.composites.set(key, cv);
    while (this.composites.size > COMPOSITE_LIMIT) this.composites.delete(this.composites.keys().next().value);
    return cv;
  }
  buildDiff(a, b) {
    const w = b.width, h = b.height, cv = scratchCanvas(w, h), x = cv.getContext("2d", { willReadFrequently: true });
    x.drawImage(a, 0, 0); const pa = x.getImageData(0, 0, w, h).data;
    x.clearRect(0, 0, w, h); x.drawImage(b, 0, 0); const img = x.getImageData(0, 0, w, h), pb = img.data;
    for (let i = 0; i < pb.length; i += 4) {
      const va = pa[i + 3], vb = pb[i + 3];
      // green: kept now but not before (added); magenta: removed by the edits; grey: both
      const add = vb > va ? vb - va : 0, rem = va > vb ? va - vb : 0, both = Math.min(va, vb) * 0.35;
      pb[i] = Math.min(255, both + rem); pb[i + 1] = Math.min(255, both + add); pb[i + 2] = Math.min(255, both + rem);
      pb[i + 3] = 255;
    }
    x.putImageData(img, 0, 0);
    return cv;
  }

  // ---------------------------------------------------------------- drawing
  requestDraw() {
    if (this.pendingFrame) return;
    this.pendingFrame = requestAnimationFrame(() => { this.pendingFrame = 0; this.draw(); });
  }
  draw() {
    const t0 = performance.now();
    const want = new Set();
    for (const pane of this.panes) this.drawPane(pane, want);
    for (const u of want) if (!this.cache.has(u)) this.cache.load(u);
    this.cache.retain(want);
    this.frames++; this.lastFrameMs = performance.now() - t0;
  }
  paneContent(pane) {
    if (this.mode === "side") return pane.index === 0 ? "original" : "cutout";
    return this.mode;
  }
  drawPane(pane, want) {
    const ctx = pane.ctx, dpr = pane.dpr;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.globalAlpha = 1; ctx.globalCompositeOperation = "source-over";
    ctx.fillStyle = OUTSIDE; ctx.fillRect(0, 0, pane.canvas.width, pane.canvas.height);
    const L = this.currentLevel(pane);
    const tiles = this.pyramid.tilesIn(L, this.visibleRect(pane));
    // above 100 % every image pixel must stay a hard square: no smoothing
    ctx.imageSmoothingEnabled = this.scale * dpr < 1;
    ctx.imageSmoothingQuality = "high";
    const content = this.paneContent(pane);
    const drawLayer = (layer, alpha = 1) => this.drawLayer(ctx, pane, layer, L, tiles, want, alpha);
    if (content === "original") drawLayer("orig");
    else if (content === "mask") { this.fillImageRect(ctx, pane, "#000"); drawLayer("mask"); }
    else if (content === "diff") drawLayer("diff");
    else if (content === "red") { drawLayer("orig"); drawLayer("red", 0.5); }
    else {
      this.fillMatte(ctx, pane); drawLayer("cutout");
      if (content === "onion") drawLayer("orig", 1 - this.onion);
    }
    this.drawPreviews(ctx, pane, content, L, tiles, want);
    if (content === "swipe") {
      const x = Math.round(pane.w * this.swipe * dpr);
      ctx.save(); ctx.beginPath(); ctx.rect(0, 0, x, pane.canvas.height); ctx.clip();
      drawLayer("orig"); ctx.restore();
      ctx.fillStyle = "#ffd54a"; ctx.fillRect(x - Math.round(dpr), 0, Math.max(2, Math.round(2 * dpr)), pane.canvas.height);
    }
    if (this.showEdge && content !== "original") this.drawEdges(ctx, pane, L, tiles, want);
    if (this.showGrid && this.scale >= 8) this.drawGrid(ctx, pane);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.globalAlpha = 1; ctx.globalCompositeOperation = "source-over";
    for (const fn of this.overlays) fn(ctx, pane, this);
  }
  // device-pixel rectangle of an image rectangle, snapped so neighbouring tiles never gap
  deviceRect(pane, x, y, w, h) {
    const d = pane.dpr, s = this.scale;
    const x0 = Math.round((x * s + this.ox) * d), y0 = Math.round((y * s + this.oy) * d);
    const x1 = Math.round(((x + w) * s + this.ox) * d), y1 = Math.round(((y + h) * s + this.oy) * d);
    return [x0, y0, x1 - x0, y1 - y0];
  }
  fillImageRect(ctx, pane, style) {
    const [x, y, w, h] = this.deviceRect(pane, 0, 0, this.pyramid.width, this.pyramid.height);
    ctx.fillStyle = style; ctx.fillRect(x, y, w, h);
  }
  matteStyle(ctx) {
    if (this.matte === "custom") return this.customMatte;
    if (this.matte !== "checker") return MATTES[this.matte] || "#fff";
    if (!this.checker) {
      const c = scratchCanvas(16, 16), x = c.getContext("2d");
      x.fillStyle = "#ffffff"; x.fillRect(0, 0, 16, 16);
      x.fillStyle = "#cfcfcf"; x.fillRect(0, 0, 8, 8); x.fillRect(8, 8, 8, 8);
      this.checker = ctx.createPattern(c, "repeat");
    }
    return this.checker;
  }
  fillMatte(ctx, pane) { this.fillImageRect(ctx, pane, this.matteStyle(ctx)); }

  drawLayer(ctx, pane, layer, L, tiles, want, alpha = 1) {
    ctx.globalAlpha = alpha;
    for (const [c, r] of tiles) {
      const rect = this.pyramid.tileRect(L, c, r);
      const key = `${layer}|${L}|${c}|${r}`;
      let bm = this.layerTile(layer, L, c, r, want);
      if (bm) this.lastGood.set(key, bm);
      else bm = this.lastGood.get(key);
      const [dx, dy, dw, dh] = this.deviceRect(pane, ...rect);
      if (bm) { ctx.drawImage(bm, dx, dy, dw, dh); continue; }
      // not loaded yet: stretch the nearest coarser tile we have, never a blank hole
      for (let up = 1; up <= L; up++) {
        const A = L - up, ac = c >> up, ar = r >> up;
        const abm = this.lastGood.get(`${layer}|${A}|${ac}|${ar}`) || this.layerTile(layer, A, ac, ar, new Set());
        if (!abm) continue;
        const arect = this.pyramid.tileRect(A, ac, ar), k = this.pyramid.levelScale(A);
        ctx.drawImage(abm, (rect[0] - arect[0]) * k, (rect[1] - arect[1]) * k, rect[2] * k, rect[3] * k, dx, dy, dw, dh);
        break;
      }
    }
    ctx.globalAlpha = 1;
    if (this.lastGood.size > 4 * COMPOSITE_LIMIT) {
      const keys = [...this.lastGood.keys()];
      for (const k of keys.slice(0, keys.length - 2 * COMPOSITE_LIMIT)) this.lastGood.delete(k);
    }
  }

  // The mask's edge as crisp screen-resolution lines along the level's pixel boundaries: every
  // segment end is snapped to a device pixel and the line drawn on the pixel centre, so the
  // outline is one device pixel wide at any zoom (no anti-aliased blur over two pixels).
  drawEdges(ctx, pane, L, tiles, want) {
    const k = this.pyramid.levelScale(L), s = (this.scale / k) * pane.dpr;
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.strokeStyle = "#00e5ff"; ctx.lineWidth = 1;
    ctx.lineCap = "square"; // the end pixels are covered fully too, not half
    ctx.beginPath();
    for (const [c, r] of tiles) {
      const rev = this.revs.revOf(L, c, r), url = this.maskUrl(rev, L, c, r);
      const bm = this.cache.get(url);
      if (!bm) continue;
      let seg = this.edges.get(url);
      if (!seg) { seg = edgeSegments(bm); this.edges.set(url, seg); if (this.edges.size > 200) this.edges.delete(this.edges.keys().next().value); }
      const rect = this.pyramid.tileRect(L, c, r);
      const tx = (rect[0] * this.scale + this.ox) * pane.dpr, ty = (rect[1] * this.scale + this.oy) * pane.dpr;
      for (let i = 0; i < seg.length; i += 4) {
        ctx.moveTo(Math.round(seg[i] * s + tx) + 0.5, Math.round(seg[i + 1] * s + ty) + 0.5);
        ctx.lineTo(Math.round(seg[i + 2] * s + tx) + 0.5, Math.round(seg[i + 3] * s + ty) + 0.5);
      }
    }
    ctx.stroke();
    ctx.restore();
  }
  drawGrid(ctx, pane) {
    const [x0, y0, w, h] = this.visibleRect(pane), d = pane.dpr;
    ctx.save(); ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.strokeStyle = "rgba(128,128,128,0.45)"; ctx.lineWidth = 1; ctx.beginPath();
    const W = this.pyramid.width, H = this.pyramid.height;
    for (let x = Math.max(0, Math.ceil(x0)); x <= Math.min(W, x0 + w); x++) {
      const sx = Math.round((x * this.scale + this.ox) * d) + 0.5;
      ctx.moveTo(sx, Math.max(0, this.oy * d)); ctx.lineTo(sx, Math.min(pane.canvas.height, (H * this.scale + this.oy) * d));
    }
    for (let y = Math.max(0, Math.ceil(y0)); y <= Math.min(H, y0 + h); y++) {
      const sy = Math.round((y * this.scale + this.oy) * d) + 0.5;
      ctx.moveTo(Math.max(0, this.ox * d), sy); ctx.lineTo(Math.min(pane.canvas.width, (W * this.scale + this.ox) * d), sy);
    }
    ctx.stroke(); ctx.restore();
  }

  // Vector previews of edits not yet in the server's tiles: the op's shape becomes a clip path
  // on the pane itself, and inside it the view is drawn as it will be once the op is applied
  // (the photo for keep/add, the matte for remove/subtract). No offscreen canvas and no
  // full-pane composite per frame: only the tiles under the shape's bounding box are drawn
  // again, and the clip path of a growing stroke is extended, not rebuilt.
  drawPreviews(ctx, pane, content, L, tiles, want) {
    const list = this.previews();
    if (!list.length || content === "original" || content === "diff") return;
    const s = this.scale * pane.dpr, W = pane.canvas.width, H = pane.canvas.height;
    for (const op of list) {
      const shape = previewShape(op);
      if (!shape) continue;
      const keeps = op.type === "stroke" ? op.mode === "keep" : op.mode === "add";
      const under = shape.bounds ? tiles.filter(([c, r]) => intersects(this.pyramid.tileRect(L, c, r), shape.bounds)) : tiles;
      for (const { path, rule, alpha } of shape.clips) {
        ctx.save();
        ctx.setTransform(s, 0, 0, s, this.ox * pane.dpr, this.oy * pane.dpr);
        ctx.clip(path, rule); // the clip keeps the transform it was made with
        ctx.setTransform(1, 0, 0, 1, 0, 0);
        const a = alpha * (op.opacity ?? 1);
        const fill = (style) => { ctx.globalAlpha = a; ctx.fillStyle = style; ctx.fillRect(0, 0, W, H); ctx.globalAlpha = 1; };
        if (keeps) {
          if (content === "mask") fill("#fff");
          else this.drawLayer(ctx, pane, "orig", L, under, want, a);
        } else if (content === "mask") fill("#000");
        else if (content === "red") { this.drawLayer(ctx, pane, "orig", L, under, want, a); fill("rgba(255,0,0,0.5)"); }
        else fill(this.matteStyle(ctx));
        ctx.restore();
      }
    }
  }
}

// The preview geometry of an op in image px: clip paths with the alpha each is filled at, and
// the bounding box (null: the whole frame). A stroke is the union of discs along its polyline
// (discs at the points, quads along the segments, all wound the same way so the nonzero rule
// unites them): an outer clip at radius (half alpha, the soft rim) and an inner one at
// radius × hardness (full alpha). Cached per points array, extended as the stroke grows.
const strokeShapes = new WeakMap(); // points array -> {n, radius, hardness, outer, inner, bounds}
const pathShapes = new WeakMap(); // op -> shape
function previewShape(op) {
  if (op.type === "stroke") {
    const pts = op.points;
    if (!pts || !pts.length) return null;
    let c = strokeShapes.get(pts);
    if (!c || c.radius !== op.radius || c.hardness !== op.hardness || c.n > pts.length) {
      c = { n: 0, radius: op.radius, hardness: op.hardness, outer: new Path2D(), inner: new Path2D() };
      strokeShapes.set(pts, c);
    }
    if (c.n < pts.length) {
      const fp = footprint(op.radius, op.hardness);
      addCapsules(c.outer, pts, c.n, fp.outer);
      if (fp.inner > 0) addCapsules(c.inner, pts, c.n, fp.inner);
      c.n = pts.length;
      c.bounds = strokeBounds(pts, op.radius);
      c.clips = [{ path: c.outer, rule: "nonzero", alpha: fp.inner < fp.outer ? 0.5 : 1 }];
      if (fp.inner > 0 && fp.inner < fp.outer) c.clips.push({ path: c.inner, rule: "nonzero", alpha: 1 });
    }
    return c;
  }
  if (op.type !== "path" || !op.d) return null;
  let c = pathShapes.get(op);
  if (!c) {
    const own = new Path2D(op.d);
    if (op.mode === "intersect") { // everything outside the path goes
      const p = new Path2D();
      p.rect(-1e6, -1e6, 2e6, 2e6);
      p.addPath(own);
      c = { clips: [{ path: p, rule: "evenodd", alpha: 1 }], bounds: null };
    } else c = { clips: [{ path: own, rule: op.fill_rule || "nonzero", alpha: 1 }], bounds: pathBounds(parsePath(op.d)) };
    pathShapes.set(op, c);
  }
  return c;
}
// Discs of radius `rad` at points[from..] and the quads joining them to their predecessors.
function addCapsules(p, pts, from, rad) {
  if (rad <= 0) return;
  for (let i = from; i < pts.length; i++) {
    const [x, y] = pts[i];
    p.moveTo(x + rad, y); p.arc(x, y, rad, 0, 2 * Math.PI);
    if (i === 0) continue;
    const [ax, ay] = pts[i - 1], dx = x - ax, dy = y - ay, len = Math.hypot(dx, dy);
    if (!len) continue;
    const nx = (-dy / len) * rad, ny = (dx / len) * rad;
    // a−n, b−n, b+n, a+n: the same winding as the arcs (positive), whatever the direction
    p.moveTo(ax - nx, ay - ny); p.lineTo(x - nx, y - ny); p.lineTo(x + nx, y + ny); p.lineTo(ax + nx, ay + ny); p.closePath();
  }
}

// Boundary segments between mask pixels ≥ 50 % and < 50 %, in the tile's own pixels, as
// [x0, y0, x1, y1, ...]; runs along one pixel boundary are merged into one segment.
export function edgeSegments(bm) {
  const w = bm.width, h = bm.height, cv = scratchCanvas(w, h), x = cv.getContext("2d", { willReadFrequently: true });
  x.drawImage(bm, 0, 0);
  const a = x.getImageData(0, 0, w, h).data, on = new Uint8Array(w * h), out = [];
  for (let i = 0; i < w * h; i++) on[i] = a[i * 4 + 3] >= 128 ? 1 : 0;
  for (let i = 0; i + 1 < w; i++) { // vertical boundaries at x = i + 1
    let start = -1;
    for (let j = 0; j <= h; j++) {
      const e = j < h && on[j * w + i] !== on[j * w + i + 1];
      if (e && start < 0) start = j;
      else if (!e && start >= 0) { out.push(i + 1, start, i + 1, j); start = -1; }
    }
  }
  for (let j = 0; j + 1 < h; j++) { // horizontal boundaries at y = j + 1
    let start = -1;
    for (let i = 0; i <= w; i++) {
      const e = i < w && on[j * w + i] !== on[(j + 1) * w + i];
      if (e && start < 0) start = i;
      else if (!e && start >= 0) { out.push(start, j + 1, i, j + 1); start = -1; }
    }
  }
  return Int32Array.from(out);
}
