// The offline queue: last wish per notification and dimension, one request per action, survives a "reload".
import assert from "node:assert/strict";
import { test } from "node:test";

import { Outbox } from "../../static/notifications/outbox.js";

class MemoryStorage {
  #items = new Map();
  getItem(key) { return this.#items.has(key) ? this.#items.get(key) : null; }
  setItem(key, value) { this.#items.set(key, String(value)); }
  removeItem(key) { this.#items.delete(key); }
}

test("the last wish per notification and dimension wins; other dimensions are kept", () => {
  const storage = new MemoryStorage();
  const box = new Outbox(storage, "k");
  box.add(["a", "b"], "archive");
  box.add(["a"], "read");
  box.add(["a"], "unarchive");
  assert.deepEqual(box.batches(), { archive: ["b"], read: ["a"], unarchive: ["a"] });
});

test("a new Outbox on the same storage sees the queue (a reload keeps it)", () => {
  const storage = new MemoryStorage();
  new Outbox(storage, "k").add(["x"], "archive");
  assert.deepEqual(new Outbox(storage, "k").batches(), { archive: ["x"] });
  assert.deepEqual(new Outbox(storage, "other-user").batches(), {});
});

test("done removes exactly what the server applied, and an empty queue leaves no key", () => {
  const storage = new MemoryStorage();
  const box = new Outbox(storage, "k");
  box.add(["a", "b"], "archive");
  box.add(["c"], "read");
  box.done(["a", "b"], "archive");
  assert.deepEqual(box.batches(), { read: ["c"] });
  box.done(["c"], "read");
  assert.equal(storage.getItem("k"), null);
});

test("garbage in storage is an empty queue, not an error", () => {
  const storage = new MemoryStorage();
  storage.setItem("k", "{not json");
  assert.deepEqual(new Outbox(storage, "k").batches(), {});
  storage.setItem("k", JSON.stringify([{ id: 1, action: "read" }, { id: "a", action: "explode" }, { id: "b", action: "read" }]));
  assert.deepEqual(new Outbox(storage, "k").batches(), { read: ["b"] });
});
