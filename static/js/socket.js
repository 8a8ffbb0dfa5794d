// One websocket per open image. Keeps the edit log in server order (seq), resumes from the last
// seq after a dropped connection, and keeps every edit the person made while offline in an
// outbox that is sent again (same client_id, so the server stores it once) after catching up.

export function newClientId() {
  const b = new Uint8Array(9);
  crypto.getRandomValues(b);
  return Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
}

export class ImageSocket extends EventTarget {
  constructor(url, lastSeq) {
    super();
    this.url = url;
    this.lastSeq = lastSeq; // every op frame up to here has been delivered, in order
    this.early = new Map(); // seq -> frame that arrived before its predecessors
    this.outbox = new Map(); // client_id -> message, in send order, until acked or refused
    this.state = "connecting";
    this.retry = 0; this.synced = false; this.closedByUs = false;
    this.bytesSent = 0; this.opBytes = [];
    this.connect();
  }
  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }
  setState(s) { this.state = s; this.emit("state", s); }

  connect() {
    this.synced = false;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    this.setState("connecting");
    ws.onopen = () => {
      this.retry = 0;
      this.setState("open");
      this.raw({ type: "hello", last_seq: this.lastSeq });
    };
    ws.onmessage = (ev) => this.receive(JSON.parse(ev.data));
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.setState(ev.code === 4403 ? "refused" : "offline");
      if (this.closedByUs || ev.code === 4403) return;
      const wait = Math.min(8000, 400 * 2 ** this.retry++) * (0.75 + Math.random() * 0.5);
      this.timer = setTimeout(() => this.connect(), wait);
    };
  }
  close() { this.closedByUs = true; clearTimeout(this.timer); if (this.ws) this.ws.close(); }
  // for tests and the offline demo: drop the connection as a network failure would
  drop() { if (this.ws) this.ws.close(4000, "dropped"); }

  raw(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    const text = JSON.stringify(msg);
    this.bytesSent += text.length;
    if (msg.type === "op") this.opBytes.push(text.length);
    this.ws.send(text);
    return true;
  }
  // An edit (op / undo / redo). Kept until the server acks or refuses it.
  sendEdit(msg) {
    const full = { ...msg, client_id: msg.client_id || newClientId() };
    this.outbox.set(full.client_id, full);
    if (this.synced) this.raw({ ...full, base_seq: this.lastSeq });
    return full.client_id;
  }
  // Ephemeral (cursor): only when connected, never queued.
  sendNow(msg) { if (this.synced) this.raw(msg); }
  send(msg) { return this.raw(msg); }

  receive(frame) {
    switch (frame.type) {
      case "welcome": this.me = frame.me; this.conn = frame.conn; this.emit("welcome", frame); break;
      case "op": this.takeOp(frame); break;
      case "synced":
        this.synced = true;
        this.emit("synced", frame);
        for (const msg of this.outbox.values()) this.raw({ ...msg, base_seq: this.lastSeq });
        break;
      case "ack":
        if (this.outbox.delete(frame.client_id)) this.emit("ack", frame);
        break;
      case "error":
        if (frame.client_id && this.outbox.has(frame.client_id)) this.outbox.delete(frame.client_id);
        this.emit("error", frame);
        break;
      default: this.emit(frame.type, frame);
    }
  }
  takeOp(frame) {
    if (frame.seq <= this.lastSeq) return; // already have it (a resend, or caught up twice)
    this.early.set(frame.seq, frame);
    while (this.early.has(this.lastSeq + 1)) {
      const f = this.early.get(this.lastSeq + 1);
      this.early.delete(this.lastSeq + 1);
      this.lastSeq = f.seq;
      this.emit("op", f);
    }
    if (this.early.size && !this.gapTimer) {
      // a later op overtook an earlier one on the way; if the gap does not fill, ask again
      this.gapTimer = setTimeout(() => {
        this.gapTimer = 0;
        if (this.early.size) this.raw({ type: "hello", last_seq: this.lastSeq });
      }, 1500);
    }
  }
}
