// The resume cursor: the highest seq this tab holds with nothing missing below it. Pure logic (no DOM), so it is
// unit-tested with Node's test runner (tests/js/).

export class Cursor {
  constructor(seq = 0) {
    this.seq = Math.max(0, Number(seq) || 0);
    this.pending = new Set();
  }

  /** A seq arrived. The cursor only moves over contiguous seqs; returns true while a gap is open. */
  advance(seq) {
    if (seq > this.seq) {
      this.pending.add(seq);
      this.#settle();
    }
    return this.pending.size > 0;
  }

  /** The server says everything up to `seq` has been sent (replay_done): no gap can remain below it. */
  jump(seq) {
    if (seq > this.seq) this.seq = seq;
    this.#settle();
  }

  reset(seq) {
    this.seq = Math.max(0, Number(seq) || 0);
    this.pending.clear();
  }

  #settle() {
    while (this.pending.delete(this.seq + 1)) this.seq += 1;
    for (const s of this.pending) if (s <= this.seq) this.pending.delete(s);
  }
}

/** Remembers which notifications are shown: each id counts once, whatever the number of copies. */
export class Seen {
  constructor(ids = []) {
    this.ids = new Set(ids);
  }

  /** True the first time an id is offered. */
  add(id) {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    return true;
  }
}
