// Offline-first: read/archive/save done while the network is down wait here (in localStorage, so a reload keeps them)
// and are sent when the connection is back. Per notification only the last wish per dimension is kept (read or
// unread; archived or not), so replaying the queue can never apply something twice or in the wrong order.
// Pure apart from the storage it is given, so it is unit-tested with Node (tests/js/).

const DIMENSION = {
  read: "read", unread: "read", archive: "archived", unarchive: "archived", save: "saved", unsave: "saved",
};

export class Outbox {
  constructor(storage, key) {
    this.storage = storage;
    this.key = key;
  }

  /** [{id, action}] in the order they were queued, one per (id, dimension). */
  entries() {
    try {
      const value = JSON.parse(this.storage.getItem(this.key) || "[]");
      return Array.isArray(value) ? value.filter((e) => e && typeof e.id === "string" && e.action in DIMENSION) : [];
    } catch {
      return [];
    }
  }

  add(ids, action) {
    const kept = this.entries().filter((e) => !(ids.includes(e.id) && DIMENSION[e.action] === DIMENSION[action]));
    this.#save([...kept, ...ids.map((id) => ({ id, action }))]);
  }

  /** The queue as one request per action: {action: [ids]}. */
  batches() {
    const result = {};
    for (const { id, action } of this.entries()) (result[action] ||= []).push(id);
    return result;
  }

  /** These were applied by the server: drop them (entries queued meanwhile for other wishes stay). */
  done(ids, action) {
    this.#save(this.entries().filter((e) => !(e.action === action && ids.includes(e.id))));
  }

  #save(entries) {
    try {
      if (entries.length) this.storage.setItem(this.key, JSON.stringify(entries));
      else this.storage.removeItem(this.key);
    } catch {
      // Storage full or disabled: the wish still applies to this tab's view; it is lost on reload.
    }
  }
}
