// Pure geometry shared by the viewer and the tools: no DOM, no network.
// Units: image pixels unless a name says "screen"; rectangles are [x, y, w, h].

// The brush footprint, the same rule as masks/render.py (stroke_profile there):
// coverage is 1 out to `radius * hardness`, then falls linearly to 0 at `radius` (box-filtered
// over a pixel, so a hard brush has its 50 % edge on the circle of `radius`).
export function footprint(radius, hardness) {
  const r = Math.max(0, radius);
  return { outer: r, inner: r * Math.min(1, Math.max(0, hardness)) };
}

export function clamp(v, lo, hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

export function intersects(a, b) {
  return a[0] < b[0] + b[2] && b[0] < a[0] + a[2] && a[1] < b[1] + b[3] && b[1] < a[1] + a[3];
}

export function union(a, b) {
  if (!a) return b;
  if (!b) return a;
  const x0 = Math.min(a[0], b[0]), y0 = Math.min(a[1], b[1]);
  const x1 = Math.max(a[0] + a[2], b[0] + b[2]), y1 = Math.max(a[1] + a[3], b[1] + b[3]);
  return [x0, y0, x1 - x0, y1 - y0];
}

// Ramer–Douglas–Peucker: drop points closer than `eps` px to the simplified line. A 200-event
// stroke usually keeps a few dozen points, which is what goes on the wire.
export function simplify(points, eps) {
  if (points.length <= 2) return points.slice();
  const keep = new Uint8Array(points.length);
  keep[0] = keep[points.length - 1] = 1;
  const stack = [[0, points.length - 1]];
  while (stack.length) {
    const [i0, i1] = stack.pop();
    const [ax, ay] = points[i0], [bx, by] = points[i1];
    const dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
    let worst = -1, idx = -1;
    for (let i = i0 + 1; i < i1; i++) {
      const [px, py] = points[i];
      let t = len2 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0;
      t = clamp(t, 0, 1);
      const ex = ax + t * dx - px, ey = ay + t * dy - py, d = ex * ex + ey * ey;
      if (d > worst) { worst = d; idx = i; }
    }
    if (idx > 0 && worst > eps * eps) {
      keep[idx] = 1;
      stack.push([i0, idx], [idx, i1]);
    }
  }
  return points.filter((_, i) => keep[i]);
}

export function round1(v) {
  return Math.round(v * 10) / 10;
}

export function strokeBounds(points, radius) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [x, y] of points) {
    if (x < x0) x0 = x; if (y < y0) y0 = y; if (x > x1) x1 = x; if (y > y1) y1 = y;
  }
  const m = radius + 1;
  return [Math.floor(x0 - m), Math.floor(y0 - m), Math.ceil(x1 - x0 + 2 * m), Math.ceil(y1 - y0 + 2 * m)];
}

// Lazy-brush stabiliser: the brush follows the pointer on a string of `length` px; it moves only
// when the pointer pulls the string taut, which irons out hand tremor.
export class Stabiliser {
  constructor(length) { this.length = length; this.brush = null; }
  reset(p) { this.brush = p.slice(); }
  follow(p) {
    if (!this.brush || this.length <= 0) { this.brush = p.slice(); return this.brush; }
    const dx = p[0] - this.brush[0], dy = p[1] - this.brush[1], d = Math.hypot(dx, dy);
    if (d > this.length) {
      const k = (d - this.length) / d;
      this.brush = [this.brush[0] + dx * k, this.brush[1] + dy * k];
    }
    return this.brush;
  }
}

// ---- SVG path data <-> pen anchors -------------------------------------------------------
// A pen path is a list of subpaths; each subpath {anchors: [{x, y, hin:[x,y], hout:[x,y]}], closed}.
// Handles are absolute positions; a corner has hin == hout == its own point.

function tokens(d) {
  const re = /([MmLlHhVvCcSsQqZz])|(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)/g;
  const out = [];
  let m;
  while ((m = re.exec(d))) out.push(m[1] || Number(m[2]));
  return out;
}

export function parsePath(d) {
  const t = tokens(d || "");
  const subs = [];
  let i = 0, cmd = null, cx = 0, cy = 0, sub = null, lastCtrl = null;
  const num = () => t[i++];
  const isNum = () => typeof t[i] === "number";
  const anchor = (x, y) => ({ x, y, hin: [x, y], hout: [x, y] });
  while (i < t.length) {
    if (typeof t[i] === "string") cmd = t[i++];
    const rel = cmd === cmd.toLowerCase();
    const C = cmd.toUpperCase();
    if (C === "Z") {
      if (sub) {
        sub.closed = true;
        const a = sub.anchors, first = a[0], last = a[a.length - 1];
        if (a.length > 1 && Math.abs(first.x - last.x) < 1e-9 && Math.abs(first.y - last.y) < 1e-9) {
          first.hin = last.hin; a.pop();
        }
        cx = first.x; cy = first.y;
      }
      sub = null; lastCtrl = null;
      continue;
    }
    if (!isNum()) { i++; continue; }
    if (C === "M") {
      let x = num(), y = num();
      if (rel) { x += cx; y += cy; }
      sub = { anchors: [anchor(x, y)], closed: false };
      subs.push(sub); cx = x; cy = y; cmd = rel ? "l" : "L"; lastCtrl = null;
      continue;
    }
    if (!sub) { sub = { anchors: [anchor(cx, cy)], closed: false }; subs.push(sub); }
    const prev = sub.anchors[sub.anchors.length - 1];
    if (C === "L" || C === "H" || C === "V") {
      let x = cx, y = cy;
      if (C === "L") { x = num(); y = num(); if (rel) { x += cx; y += cy; } }
      else if (C === "H") { x = num() + (rel ? cx : 0); }
      else { y = num() + (rel ? cy : 0); }
      sub.anchors.push(anchor(x, y)); cx = x; cy = y; lastCtrl = null;
    } else if (C === "C" || C === "S" || C === "Q") {
      let x1, y1, x2, y2, x, y;
      if (C === "C") { x1 = num(); y1 = num(); x2 = num(); y2 = num(); x = num(); y = num(); }
      else if (C === "S") { x2 = num(); y2 = num(); x = num(); y = num(); }
      else { const qx = num(), qy = num(); x = num(); y = num(); x1 = qx; y1 = qy; x2 = qx; y2 = qy; }
      if (rel) {
        if (x1 !== undefined) { x1 += cx; y1 += cy; }
        x2 += cx; y2 += cy; x += cx; y += cy;
      }
      if (C === "Q") { // quadratic -> cubic
        x1 = cx + (2 / 3) * (x1 - cx); y1 = cy + (2 / 3) * (y1 - cy);
        x2 = x + (2 / 3) * (x2 - x); y2 = y + (2 / 3) * (y2 - y);
      }
      if (C === "S") {
        x1 = lastCtrl ? 2 * cx - lastCtrl[0] : cx; y1 = lastCtrl ? 2 * cy - lastCtrl[1] : cy;
      }
      prev.hout = [x1, y1];
      const a = anchor(x, y); a.hin = [x2, y2];
      sub.anchors.push(a); cx = x; cy = y; lastCtrl = [x2, y2];
    } else {
      i++;
    }
  }
  return subs.filter((s) => s.anchors.length > 0);
}

const f2 = (v) => String(Math.round(v * 100) / 100);

export function serializePath(subs) {
  const parts = [];
  for (const s of subs) {
    const a = s.anchors;
    if (!a.length) continue;
    parts.push(`M${f2(a[0].x)} ${f2(a[0].y)}`);
    const n = s.closed ? a.length : a.length - 1;
    for (let k = 0; k < n; k++) {
      const p = a[k], q = a[(k + 1) % a.length];
      const straight = p.hout[0] === p.x && p.hout[1] === p.y && q.hin[0] === q.x && q.hin[1] === q.y;
      parts.push(straight ? `L${f2(q.x)} ${f2(q.y)}`
        : `C${f2(p.hout[0])} ${f2(p.hout[1])} ${f2(q.hin[0])} ${f2(q.hin[1])} ${f2(q.x)} ${f2(q.y)}`);
    }
    if (s.closed) parts.push("Z");
  }
  return parts.join("");
}

export function pathBounds(subs) {
  let b = null;
  for (const s of subs) for (const a of s.anchors) {
    for (const [x, y] of [[a.x, a.y], a.hin, a.hout]) b = union(b, [x, y, 0, 0]);
  }
  return b ? [Math.floor(b[0]) - 2, Math.floor(b[1]) - 2, Math.ceil(b[2]) + 4, Math.ceil(b[3]) + 4] : null;
}
