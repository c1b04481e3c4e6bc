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

/**
 * Remembers which notifications are shown: each id counts once, whatever the number of copies, unless a copy comes
 * with a higher seq than the one shown (a snoozed notification that woke moves to a new seq: it is news again).
 * Entries are ids or [id, seq] pairs; an id without a seq is never news again.
 */
export class Seen {
  constructor(entries = []) {
    this.seqs = new Map();
    for (const entry of entries) {
      if (Array.isArray(entry)) this.add(entry[0], entry[1]);
      else this.add(entry);
    }
  }

  /** True the first time an id is offered, and when it comes again with a higher seq than before. */
  add(id, seq) {
    const value = Number.isFinite(seq) ? seq : Infinity;
    if (!this.seqs.has(id)) {
      this.seqs.set(id, value);
      return true;
    }
    if (value === Infinity || value <= this.seqs.get(id)) return false;
    this.seqs.set(id, value);
    return true;
  }
}
