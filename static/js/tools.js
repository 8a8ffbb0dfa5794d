// Editing tools. Each draws its own vector preview and cursor on the viewer's overlay and
// hands a finished edit to `editor.submit(op)` as an operation (never pixels).
import { footprint, simplify, round1, Stabiliser, parsePath, serializePath } from "./geometry.js";

const HIT = 7; // screen px for grabbing anchors and handles

function dist(a, b) { return Math.hypot(a[0] - b[0], a[1] - b[1]); }

// ---------------------------------------------------------------- brush
export class BrushTool {
  constructor(editor) {
    this.ed = editor; this.name = "brush";
    this.mode = "keep"; this.radius = 8; this.hardness = 0.8; this.opacity = 1;
    this.stab = new Stabiliser(0); this.points = null; this.pointer = null;
  }
  get brushPos() { return this.points && this.stab.brush ? this.stab.brush : this.pointer; }
  setRadius(r) { this.radius = Math.min(500, Math.max(0.5, Math.round(r * 2) / 2)); this.ed.toolChanged(); }
  bigger() { this.setRadius(this.radius < 4 ? this.radius + 0.5 : this.radius * 1.25); }
  smaller() { this.setRadius(this.radius <= 4 ? this.radius - 0.5 : this.radius / 1.25); }
  down(p) {
    // the stabiliser's string is set in screen px; the brush works in image px
    this.stab.length = this.ed.stabiliser / this.ed.viewer.scale;
    this.stab.reset(p);
    this.points = [p.slice()];
    this.ed.viewer.requestDraw();
  }
  move(p) {
    this.pointer = p;
    if (this.points) {
      const b = this.stab.follow(p);
      if (dist(b, this.points[this.points.length - 1]) >= Math.min(0.5, this.radius / 4)) this.points.push(b.slice());
    }
    this.ed.viewer.requestDraw();
  }
  up() {
    if (!this.points) return;
    const eps = Math.min(0.25, this.radius / 8);
    const pts = simplify(this.points, eps).map(([x, y]) => [round1(x), round1(y)]);
    this.points = null;
    this.ed.submit({ type: "stroke", mode: this.mode, points: pts, radius: this.radius,
      hardness: this.hardness, opacity: this.opacity });
  }
  cancel() { this.points = null; this.ed.viewer.requestDraw(); }
  live() {
    return this.points ? [{ type: "stroke", mode: this.mode, points: this.points, radius: this.radius,
      hardness: this.hardness, opacity: this.opacity }] : [];
  }
  overlay(ctx, pane, v) {
    const pos = this.brushPos;
    if (!pos) return;
    const [sx, sy] = v.toScreen(pos[0], pos[1]);
    const fp = footprint(this.radius, this.hardness);
    const R = fp.outer * v.scale, r = fp.inner * v.scale;
    ctx.save();
    // the outline is the footprint: where the stroke will change the mask at all
    ctx.lineWidth = 1;
    ctx.strokeStyle = "rgba(0,0,0,0.9)"; ctx.beginPath(); ctx.arc(sx, sy, R + 1, 0, 2 * Math.PI); ctx.stroke();
    ctx.strokeStyle = this.mode === "keep" ? "#ffffff" : "#ff4d4d";
    ctx.beginPath(); ctx.arc(sx, sy, R, 0, 2 * Math.PI); ctx.stroke();
    if (r > 1 && r < R - 1) {
      ctx.setLineDash([3, 3]); ctx.beginPath(); ctx.arc(sx, sy, r, 0, 2 * Math.PI); ctx.stroke(); ctx.setLineDash([]);
    }
    if (R < 3) { ctx.beginPath(); ctx.moveTo(sx - 6, sy); ctx.lineTo(sx + 6, sy); ctx.moveTo(sx, sy - 6); ctx.lineTo(sx, sy + 6); ctx.stroke(); }
    if (this.points && this.pointer && this.ed.stabiliser > 0) {
      const [px, py] = v.toScreen(this.pointer[0], this.pointer[1]);
      ctx.strokeStyle = "rgba(255,213,74,0.9)"; ctx.beginPath(); ctx.moveTo(sx, sy); ctx.lineTo(px, py); ctx.stroke();
    }
    ctx.restore();
  }
}

// ---------------------------------------------------------------- pen (bezier)
// Click: corner anchor. Press-drag: smooth anchor (drag sets the out-handle; the in-handle
// mirrors it). Click the first anchor: close the subpath; the next click starts another one
// (compound paths: an outer contour plus the negative space inside it, with even-odd).
// Drag an anchor or a handle of the path to edit it; Alt-drag a handle breaks the mirror.
export class PenTool {
  constructor(editor) {
    this.ed = editor; this.name = "pen";
    this.mode = "add"; this.evenodd = true; this.feather = 0;
    this.subs = []; this.drag = null; this.pointer = null;
  }
  get open() { const s = this.subs[this.subs.length - 1]; return s && !s.closed ? s : null; }
  hitTest(p) {
    const v = this.ed.viewer, tol = HIT / v.scale;
    for (let si = this.subs.length - 1; si >= 0; si--) {
      const s = this.subs[si];
      for (let ai = 0; ai < s.anchors.length; ai++) {
        const a = s.anchors[ai];
        if (dist(a.hout, p) <= tol && dist(a.hout, [a.x, a.y]) > 0) return { kind: "hout", a, s, ai };
        if (dist(a.hin, p) <= tol && dist(a.hin, [a.x, a.y]) > 0) return { kind: "hin", a, s, ai };
        if (dist([a.x, a.y], p) <= tol) return { kind: "anchor", a, s, ai };
      }
    }
    return null;
  }
  down(p, ev) {
    const hit = this.hitTest(p);
    const open = this.open;
    if (hit && open && hit.s === open && hit.ai === 0 && open.anchors.length >= 2) {
      open.closed = true; this.drag = null; this.ed.toolChanged(); this.ed.viewer.requestDraw(); return;
    }
    if (hit) { this.drag = { ...hit, alt: ev && ev.altKey, from: p }; return; }
    let s = open;
    if (!s) { s = { anchors: [], closed: false }; this.subs.push(s); }
    const a = { x: p[0], y: p[1], hin: p.slice(), hout: p.slice() };
    s.anchors.push(a);
    this.drag = { kind: "new", a, s };
    this.ed.toolChanged(); this.ed.viewer.requestDraw();
  }
  move(p) {
    this.pointer = p;
    const d = this.drag;
    if (d) {
      const a = d.a;
      if (d.kind === "anchor") {
        const dx = p[0] - a.x, dy = p[1] - a.y;
        a.x += dx; a.y += dy; a.hin = [a.hin[0] + dx, a.hin[1] + dy]; a.hout = [a.hout[0] + dx, a.hout[1] + dy];
      } else if (d.kind === "new" || d.kind === "hout" || d.kind === "hin") {
        const own = d.kind === "hin" ? "hin" : "hout", other = own === "hin" ? "hout" : "hin";
        a[own] = p.slice();
        if (!d.alt) a[other] = [2 * a.x - p[0], 2 * a.y - p[1]];
      }
    }
    this.ed.viewer.requestDraw();
  }
  up() { this.drag = null; }
  removeLast() {
    const s = this.subs[this.subs.length - 1];
    if (!s) return;
    if (s.closed) s.closed = false; else s.anchors.pop();
    if (!s.anchors.length) this.subs.pop();
    this.ed.toolChanged(); this.ed.viewer.requestDraw();
  }
  load(d) { this.subs = parsePath(d); this.ed.toolChanged(); this.ed.viewer.requestDraw(); }
  get d() { return serializePath(this.subs.filter((s) => s.anchors.length >= 2)); }
  op() {
    return { type: "path", d: this.d, mode: this.mode, fill_rule: this.evenodd ? "evenodd" : "nonzero", feather: this.feather };
  }
  apply() {
    if (!this.d) return false;
    this.ed.submit(this.op());
    this.subs = []; this.ed.toolChanged(); this.ed.viewer.requestDraw();
    return true;
  }
  cancel() { this.subs = []; this.drag = null; this.ed.toolChanged(); this.ed.viewer.requestDraw(); }
  live() { return []; }
  overlay(ctx, pane, v) {
    if (!this.subs.length) return;
    ctx.save();
    const d = this.d;
    if (d) {
      ctx.save();
      ctx.setTransform(v.scale * pane.dpr, 0, 0, v.scale * pane.dpr, v.ox * pane.dpr, v.oy * pane.dpr);
      const p = new Path2D(d);
      ctx.fillStyle = this.mode === "subtract" ? "rgba(255,77,77,0.18)" : "rgba(80,200,255,0.18)";
      ctx.fill(p, this.evenodd ? "evenodd" : "nonzero");
      ctx.restore();
    }
    for (const s of this.subs) {
      const A = s.anchors;
      ctx.beginPath();
      A.forEach((a, i) => {
        const [x, y] = v.toScreen(a.x, a.y);
        if (i === 0) { ctx.moveTo(x, y); return; }
        const b = A[i - 1];
        const [c1x, c1y] = v.toScreen(b.hout[0], b.hout[1]), [c2x, c2y] = v.toScreen(a.hin[0], a.hin[1]);
        ctx.bezierCurveTo(c1x, c1y, c2x, c2y, x, y);
      });
      if (s.closed && A.length > 1) {
        const a = A[0], b = A[A.length - 1];
        const [c1x, c1y] = v.toScreen(b.hout[0], b.hout[1]), [c2x, c2y] = v.toScreen(a.hin[0], a.hin[1]), [x, y] = v.toScreen(a.x, a.y);
        ctx.bezierCurveTo(c1x, c1y, c2x, c2y, x, y);
      } else if (!s.closed && this.pointer && s === this.open && !this.drag) {
        const [x, y] = v.toScreen(this.pointer[0], this.pointer[1]);
        ctx.lineTo(x, y);
      }
      ctx.strokeStyle = "#000"; ctx.lineWidth = 3; ctx.stroke();
      ctx.strokeStyle = "#4fd1ff"; ctx.lineWidth = 1.5; ctx.stroke();
      for (const a of A) {
        const [x, y] = v.toScreen(a.x, a.y);
        for (const h of [a.hin, a.hout]) {
          if (h[0] === a.x && h[1] === a.y) continue;
          const [hx, hy] = v.toScreen(h[0], h[1]);
          ctx.strokeStyle = "#ffd54a"; ctx.lineWidth = 1; ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(hx, hy); ctx.stroke();
          ctx.fillStyle = "#ffd54a"; ctx.beginPath(); ctx.arc(hx, hy, 3.5, 0, 2 * Math.PI); ctx.fill();
        }
        ctx.fillStyle = "#fff"; ctx.strokeStyle = "#000"; ctx.lineWidth = 1;
        ctx.fillRect(x - 3.5, y - 3.5, 7, 7); ctx.strokeRect(x - 3.5, y - 3.5, 7, 7);
      }
    }
    ctx.restore();
  }
}

// ---------------------------------------------------------------- comment pin / colour region
export class PinTool {
  constructor(editor) { this.ed = editor; this.name = "comment"; }
  down(p) { this.ed.composeComment(p); }
  move() {} up() {} live() { return []; } overlay() {} cancel() {}
}

export class MeasureTool {
  constructor(editor) { this.ed = editor; this.name = "measure"; this.rect = null; this.start = null; }
  down(p) { this.start = p; this.rect = [p[0], p[1], 0, 0]; }
  move(p) {
    if (!this.start) return;
    const x0 = Math.min(p[0], this.start[0]), y0 = Math.min(p[1], this.start[1]);
    this.rect = [x0, y0, Math.abs(p[0] - this.start[0]), Math.abs(p[1] - this.start[1])];
    this.ed.viewer.requestDraw();
  }
  up() {
    if (this.rect && this.rect[2] >= 1 && this.rect[3] >= 1) this.ed.measure(this.rect.map(Math.round));
    this.start = null;
  }
  live() { return []; } cancel() { this.rect = null; }
  overlay(ctx, pane, v) {
    if (!this.rect) return;
    const [x, y] = v.toScreen(this.rect[0], this.rect[1]);
    ctx.save(); ctx.strokeStyle = "#ffd54a"; ctx.setLineDash([5, 3]); ctx.lineWidth = 1.5;
    ctx.strokeRect(x, y, this.rect[2] * v.scale, this.rect[3] * v.scale); ctx.restore();
  }
}

export class HandTool {
  constructor(editor) { this.ed = editor; this.name = "hand"; }
  down() {} move() {} up() {} live() { return []; } overlay() {} cancel() {}
}
