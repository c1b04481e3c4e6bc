// The grouped summary text, written exactly like notifications/grouping.py group_phrase (same cases as
// tests/notifications/test_grouping.py), and which notifications belong to a group.
import assert from "node:assert/strict";
import { test } from "node:test";

import { groupable, groupPhrase } from "../../static/notifications/grouping.js";

test("the phrase names actors newest first and counts members, as the server writes it", () => {
  assert.equal(groupPhrase([], 0, 1), "1 notification");
  assert.equal(groupPhrase(["Bob"], 1, 3), "Bob · 3 notifications");
  assert.equal(groupPhrase(["Bob", "Carol"], 2, 2), "Bob and Carol · 2 notifications");
  assert.equal(groupPhrase(["Dan", "Carol", "Bob"], 4, 4), "Dan and 3 others · 4 notifications");
  assert.equal(groupPhrase(["Dan", "Carol", "Bob"], 3, 5), "Dan and 2 others · 5 notifications");
});

test("only unread notifications in the inbox with a group_key are grouped", () => {
  const n = { group_key: "post:42", is_read: false, archived_at: null, snoozed_until: null };
  assert.equal(groupable(n), true);
  assert.equal(groupable({ ...n, group_key: "" }), false);
  assert.equal(groupable({ ...n, is_read: true }), false);
  assert.equal(groupable({ ...n, archived_at: "2026-01-01T00:00:00Z" }), false);
  assert.equal(groupable({ ...n, snoozed_until: "2026-01-01T00:00:00Z" }), false);
});
