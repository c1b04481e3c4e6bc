// The WebSocket client (contract.md "WebSocket protocol"): connect, resume from the cursor, heartbeat, reconnect
// with backoff, and fall back to REST polling when sockets keep failing. It knows frames only as JSON objects;
// what they mean is the caller's business (onFrame).

import { RATE_LIMITED_MIN_MS, reconnectDelay } from "./backoff.js";

const PING_EVERY_MS = 25000;
const PONG_TIMEOUT_MS = 10000;
const FALLBACK_AFTER_FAILURES = 3;
const SESSION_ENDED = 4401;
const RATE_LIMITED = 4429;

export class Connection {
  /**
   * @param {object} o
   * @param {string} o.url            the socket URL
   * @param {() => number} o.cursor   the seq to resume from
   * @param {() => (string|null)} [o.changedSince]  the server time since which retractions and updates of the rows
   *   up to the cursor are wanted (the last hello's server_time): the resume's changed_since
   * @param {(frame: object) => void} o.onFrame
   * @param {(state: string) => void} o.onState   live | reconnecting | offline | polling | ended
   * @param {(on: boolean) => void} o.onPolling    start / stop the REST fallback
   */
  constructor({ url, cursor, changedSince = () => null, onFrame, onState, onPolling }) {
    Object.assign(this, { url, cursor, changedSince, onFrame, onState, onPolling });
    this.socket = null;
    this.live = false;
    this.ended = false;
    this.polling = false;
    this.attempt = 0;
    this.failures = 0;
    this.timers = { reconnect: null, ping: null, pong: null };
  }

  send(frame) {
    const ws = this.socket;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  }

  connect() {
    clearTimeout(this.timers.reconnect);
    this.timers.reconnect = null;
    if (this.ended || this.socket) return;
    if (!("WebSocket" in window)) {
      this.#setPolling(true);
      return;
    }
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.#scheduleReconnect();
      return;
    }
    this.socket = ws;
    ws.addEventListener("open", () => {
      if (this.socket !== ws) return;
      const resume = { type: "resume", last_seq: this.cursor() };
      const since = this.changedSince();
      if (since) resume.changed_since = since;
      this.send(resume);
      this.#heartbeat(ws);
    });
    ws.addEventListener("message", (event) => {
      if (this.socket !== ws) return;
      this.#heartbeat(ws);
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "hello") this.#hello();
      else if (this.live) this.onState("live"); // any frame proves the connection, e.g. after "online"
      this.onFrame(frame);
    });
    ws.addEventListener("close", (event) => {
      if (this.socket === ws) this.#closed(event.code);
    });
  }

  /** Come back now (the browser is online again, the tab is visible): skip the backoff, check a kept socket. */
  reconnectNow() {
    if (this.ended) return;
    if (this.socket) {
      // A socket that survived the outage answers a ping now; a dead one times out and reconnects.
      this.#heartbeat(this.socket, 0);
      return;
    }
    this.attempt = 0;
    this.connect();
  }

  /** The server (or REST) says the session is over: stop everything and say so. */
  end() {
    this.ended = true;
    this.#setPolling(false);
    this.onState("ended");
  }

  #hello() {
    this.live = true;
    this.attempt = 0;
    this.failures = 0;
    this.#setPolling(false);
    this.onState("live");
  }

  #setPolling(on) {
    if (on === this.polling) {
      if (on) this.onState("polling");
      return;
    }
    this.polling = on;
    if (on) this.onState("polling");
    this.onPolling(on);
  }

  /** Any frame proves the connection; silence after a ping means a dead (half-open) connection. */
  #heartbeat(ws, pingAfter = PING_EVERY_MS) {
    clearTimeout(this.timers.pong);
    clearTimeout(this.timers.ping);
    this.timers.ping = setTimeout(() => {
      this.send({ type: "ping" });
      this.timers.pong = setTimeout(() => this.#abandon(ws), PONG_TIMEOUT_MS);
    }, pingAfter);
  }

  #abandon(ws) {
    if (this.socket !== ws) return;
    this.#closed(4000);
    try {
      ws.close();
    } catch {
      // Already closing.
    }
  }

  #closed(code) {
    clearTimeout(this.timers.ping);
    clearTimeout(this.timers.pong);
    this.socket = null;
    const wasLive = this.live;
    this.live = false;
    if (code === SESSION_ENDED) {
      this.end();
      return;
    }
    this.failures = wasLive ? 1 : this.failures + 1;
    if (!navigator.onLine) {
      this.onState("offline");
      return; // the "online" event reconnects
    }
    if (this.failures >= FALLBACK_AFTER_FAILURES) this.#setPolling(true);
    else if (!this.polling) this.onState("reconnecting");
    this.#scheduleReconnect(code === RATE_LIMITED ? RATE_LIMITED_MIN_MS : 0);
  }

  #scheduleReconnect(minimum = 0) {
    if (this.timers.reconnect || this.ended) return;
    const delay = reconnectDelay(this.attempt, { minimum });
    this.attempt += 1;
    this.timers.reconnect = setTimeout(() => this.connect(), delay);
  }
}
