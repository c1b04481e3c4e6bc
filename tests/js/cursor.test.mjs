// The resume cursor, dedupe, backoff and the center's filters: the logic that needs no browser.
import assert from "node:assert/strict";
import { test } from "node:test";

import { BACKOFF_MAX_MS, RATE_LIMITED_MIN_MS, reconnectDelay } from "../../static/notifications/backoff.js";
import { Cursor, Seen } from "../../static/notifications/cursor.js";
import { filtersOf, matches } from "../../static/notifications/filters.js";

test("the cursor moves over contiguous seqs only and reports an open gap", () => {
  const cursor = new Cursor(5);
  assert.equal(cursor.advance(6), false);
  assert.equal(cursor.seq, 6);
  assert.equal(cursor.advance(8), true); // 7 is missing
  assert.equal(cursor.seq, 6);
  assert.equal(cursor.advance(7), false); // the gap fills: 7 and the waiting 8
  assert.equal(cursor.seq, 8);
  assert.deepEqual([...cursor.pending], []);
});

test("old and repeated seqs never move the cursor back", () => {
  const cursor = new Cursor(10);
  assert.equal(cursor.advance(3), false);
  assert.equal(cursor.advance(10), false);
  assert.equal(cursor.seq, 10);
});

test("replay_done jumps over what the server says is complete and drops waiting seqs below it", () => {
  const cursor = new Cursor(1);
  cursor.advance(4);
  cursor.advance(9);
  cursor.jump(5);
  assert.equal(cursor.seq, 5);
  assert.deepEqual([...cursor.pending], [9]);
  cursor.advance(6);
  assert.equal(cursor.seq, 6);
});

test("a garbage start is zero", () => {
  assert.equal(new Cursor("x").seq, 0);
  assert.equal(new Cursor(-4).seq, 0);
});

test("each id is shown once however many copies arrive", () => {
  const seen = new Seen(["a"]);
  assert.equal(seen.add("a"), false);
  assert.equal(seen.add("b"), true);
  assert.equal(seen.add("b"), false);
});

test("backoff doubles from 0.5 s with full jitter up to 30 s, at least the minimum", () => {
  assert.equal(reconnectDelay(0, { random: () => 1 }), 500);
  assert.equal(reconnectDelay(3, { random: () => 1 }), 4000);
  assert.equal(reconnectDelay(40, { random: () => 1 }), BACKOFF_MAX_MS);
  assert.equal(reconnectDelay(2, { random: () => 0 }), 0);
  assert.equal(reconnectDelay(2, { random: () => 0, minimum: RATE_LIMITED_MIN_MS }), RATE_LIMITED_MIN_MS);
});

test("filters: the views keep exactly what the server's selectors would", () => {
  const n = (over) => ({ is_read: false, archived_at: null, category: "comment", priority: "normal", title: "Fix login", body: "", ...over });
  const inbox = filtersOf({ status: "inbox" });
  assert.equal(matches(inbox, n()), true);
  assert.equal(matches(inbox, n({ archived_at: "x" })), false);
  assert.equal(matches(filtersOf({ status: "unread" }), n({ is_read: true })), false);
  assert.equal(matches(filtersOf({ status: "archived" }), n()), false);
  assert.equal(matches(filtersOf({ status: "all" }), n({ archived_at: "x", is_read: true })), true);
  assert.equal(matches(filtersOf({ status: "inbox", categories: "mention,security" }), n()), false);
  assert.equal(matches(filtersOf({ status: "inbox", categories: "comment,security" }), n()), true);
  assert.equal(matches(filtersOf({ status: "inbox", priorities: "high" }), n()), false);
  assert.equal(matches(filtersOf({ status: "inbox", query: "fix LOG" }), n()), true);
  assert.equal(matches(filtersOf({ status: "inbox", query: "deploy" }), n()), false);
  // An item read back from the page has no title: the query cannot be judged there, so it stays.
  assert.equal(matches(filtersOf({ status: "inbox", query: "deploy" }), n({ title: undefined })), true);
});

test("a copy with a higher seq is news again (a woken snooze), a lower or equal one is a duplicate", () => {
  const seen = new Seen([["a", 5], "b"]);
  assert.equal(seen.add("a", 5), false);
  assert.equal(seen.add("a", 3), false);
  assert.equal(seen.add("a", 9), true);
  assert.equal(seen.add("a", 9), false);
  assert.equal(seen.add("b", 100), false); // shown without a known seq: never replaced
  assert.equal(seen.add("c", 1), true);
});

test("filters: saved keeps starred ones whatever their state; snoozed ones are only in snoozed, all and saved", () => {
  const n = (over) => ({ is_read: false, archived_at: null, saved_at: null, snoozed_until: null, category: "comment", priority: "normal", ...over });
  const starred = n({ saved_at: "t", archived_at: "t", is_read: true });
  const sleeping = n({ snoozed_until: "t" });
  assert.equal(matches(filtersOf({ status: "saved" }), starred), true);
  assert.equal(matches(filtersOf({ status: "saved" }), n()), false);
  for (const status of ["inbox", "unread", "read", "archived"]) {
    assert.equal(matches(filtersOf({ status }), sleeping), false, status);
  }
  assert.equal(matches(filtersOf({ status: "snoozed" }), sleeping), true);
  assert.equal(matches(filtersOf({ status: "snoozed" }), n()), false);
  assert.equal(matches(filtersOf({ status: "all" }), sleeping), true);
  assert.equal(matches(filtersOf({ status: "saved" }), { ...sleeping, saved_at: "t" }), true);
});
