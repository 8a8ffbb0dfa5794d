// Deep-zoom tiles: which tiles a view needs, fetching them (decoded off the main thread with
// createImageBitmap), a bounded LRU of decoded tiles, and which revision each mask tile is at.
// Nothing here ever holds a full-size bitmap: only the tiles of the current view (and a
// bounded number of recently seen ones) exist in the page.
import { intersects } from "./geometry.js";

export class Pyramid {
  constructor({ width, height, tile_size, levels }) {
    this.width = width; this.height = height; this.tileSize = tile_size; this.levels = levels;
    this.maxLevel = levels - 1;
  }
  // level pixels per image pixel (1 at the full-resolution level, 1/2 one level down ...)
  levelScale(level) { return 2 ** (level - this.maxLevel); }
  // the coarsest level that still has at least one level pixel per device pixel
  levelFor(devicePxPerImagePx) {
    for (let L = 0; L <= this.maxLevel; L++) if (this.levelScale(L) >= devicePxPerImagePx) return L;
    return this.maxLevel;
  }
  // tile (col,row) of `level` in image pixels [x, y, w, h]
  tileRect(level, col, row) {
    const span = this.tileSize / this.levelScale(level);
    const x = col * span, y = row * span;
    return [x, y, Math.min(span, this.width - x), Math.min(span, this.height - y)];
  }
  tilesIn(level, rect) {
    const span = this.tileSize / this.levelScale(level);
    const c0 = Math.max(0, Math.floor(rect[0] / span)), r0 = Math.max(0, Math.floor(rect[1] / span));
    const c1 = Math.min(Math.ceil(this.width / span) - 1, Math.floor((rect[0] + rect[2]) / span));
    const r1 = Math.min(Math.ceil(this.height / span) - 1, Math.floor((rect[1] + rect[3]) / span));
    const out = [];
    for (let r = r0; r <= r1; r++) for (let c = c0; c <= c1; c++) out.push([c, r]);
    return out;
  }
}

// LRU of decoded tiles by URL; at most `limit` decoded bitmaps live at once.
export class TileCache {
  constructor(limit = 320, concurrency = 6) {
    this.limit = limit; this.concurrency = concurrency;
    this.items = new Map(); // url -> ImageBitmap (Map keeps insertion order: oldest first)
    this.pending = new Map(); // url -> Promise
    this.queue = []; this.active = 0; this.listeners = new Set();
    this.stats = { fetched: 0, bytes: 0 };
  }
  onLoad(fn) { this.listeners.add(fn); }
  get(url) {
    const bm = this.items.get(url);
    if (bm) { this.items.delete(url); this.items.set(url, bm); }
    return bm || null;
  }
  has(url) { return this.items.has(url); }
  // Ask for a tile; resolves with the bitmap (or null when it failed). Newest requests go
  // first: they are what the person is looking at now.
  load(url) {
    if (this.items.has(url)) return Promise.resolve(this.items.get(url));
    if (this.pending.has(url)) return this.pending.get(url);
    let resolve;
    const p = new Promise((r) => { resolve = r; });
    this.pending.set(url, p);
    this.queue.push({ url, resolve });
    this.pump();
    return p;
  }
  // Drop queued requests nobody needs any more (panned away); in-flight ones finish.
  retain(urls) {
    this.queue = this.queue.filter((q) => {
      if (urls.has(q.url)) return true;
      this.pending.delete(q.url); q.resolve(null); return false;
    });
  }
  pump() {
    while (this.active < this.concurrency && this.queue.length) {
      const job = this.queue.pop();
      this.active++;
      this.fetchTile(job.url).then((bm) => {
        this.active--; this.pending.delete(job.url);
        if (bm) this.put(job.url, bm);
        job.resolve(bm);
        if (bm) for (const fn of this.listeners) fn(job.url);
        this.pump();
      });
    }
  }
  async fetchTile(url) {
    try {
      const res = await fetch(url, { credentials: "same-origin" });
      if (!res.ok) return null;
      const blob = await res.blob();
      this.stats.fetched++; this.stats.bytes += blob.size;
      return await createImageBitmap(blob);
    } catch (e) {
      return null;
    }
  }
  put(url, bm) {
    this.items.set(url, bm);
    while (this.items.size > this.limit) {
      const [old, obm] = this.items.entries().next().value;
      this.items.delete(old);
      if (obm && obm.close) obm.close();
    }
  }
}

// Which revision each mask tile is at. A tile changes only when an edit's dirty rectangle
// touches it, so after an edit only those tiles get a new URL (and are fetched again).
export class MaskRevisions {
  constructor(pyramid, baseRev) {
    this.pyramid = pyramid; this.reset(baseRev);
  }
  reset(baseRev) {
    this.base = baseRev; this.events = []; this.memo = new Map(); this.head = baseRev;
  }
  revOf(level, col, row) {
    const key = `${level}/${col}/${row}`;
    let rev = this.memo.get(key);
    if (rev === undefined) {
      rev = this.base;
      const rect = this.pyramid.tileRect(level, col, row);
      for (const [seq, r] of this.events) if (seq > rev && (!r || intersects(r, rect))) rev = seq;
      this.memo.set(key, rev);
    }
    return rev;
  }
  // an edit `seq` changed `rect` (null = everything); returns the memo keys that moved
  bump(seq, rect) {
    this.events.push([seq, rect]);
    if (seq > this.head) this.head = seq;
    const moved = [];
    for (const [key, rev] of this.memo) {
      if (seq <= rev) continue;
      const [L, c, r] = key.split("/").map(Number);
      if (!rect || intersects(rect, this.pyramid.tileRect(L, c, r))) { this.memo.set(key, seq); moved.push(key); }
    }
    return moved;
  }
}
