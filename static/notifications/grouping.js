// Live grouping by group_key: a new notification whose (category, group_key) matches an unread group on screen
// replaces that item (it moves to the top with the new content; count, actors and text change), never a second
// row. The group's state lives in the item's data-group-* attributes, rendered by the server
// (templates/notifications/_group_attrs.html) and rewritten here; the text matches notifications/grouping.py.

import { h } from "./dom.js";
import { filtersOf, matches } from "./filters.js";

const ACTORS_MAX = 3;

/** "Bob and 3 others · 4 notifications" (exactly grouping.group_phrase on the server). */
export function groupPhrase(actors, actorCount, count) {
  let who = "";
  if (actors.length && actorCount === 1) who = actors[0];
  else if (actors.length && actorCount === 2 && actors.length >= 2) who = `${actors[0]} and ${actors[1]}`;
  else if (actors.length) {
    const others = actorCount - 1;
    who = `${actors[0]} and ${others} other${others === 1 ? "" : "s"}`;
  }
  const howMany = `${count} notification${count === 1 ? "" : "s"}`;
  return who ? `${who} · ${howMany}` : howMany;
}

/** Whether a notification belongs to a group now: unread, in the inbox, with a group_key. */
export function groupable(n) {
  return Boolean(n && n.group_key && !n.is_read && !n.archived_at && !n.snoozed_until);
}

function words(value) {
  return (value || "").split(" ").filter(Boolean);
}

function parseActors(value) {
  try {
    const list = JSON.parse(value || "[]");
    return Array.isArray(list) ? list.map(String) : [];
  } catch {
    return [];
  }
}

/** The group state an item carries, or null. */
export function groupOf(item) {
  if (!item || item.dataset.groupKey === undefined) return null;
  return {
    key: item.dataset.groupKey,
    count: Number(item.dataset.groupCount) || 1,
    members: words(item.dataset.groupMembers),
    actors: parseActors(item.dataset.groupActors),
    actorIds: words(item.dataset.groupActorIds),
    unseen: item.dataset.unseen === "true",
  };
}

/** Whether the item's list takes n in its place: the dropdown always; the center when it groups, is live (its
 * first page) and shows n (a search the newest does not match would lose the group from the page). */
function listTakes(item, n) {
  const list = item.parentElement;
  if (!list) return false;
  if (list.id === "bell-list") return true;
  return list.id === "notification-list" && list.dataset.grouped === "true" && list.dataset.live === "true"
    && matches(filtersOf(list.dataset), n);
}

/** The unread items on screen that stand for n's group (center and dropdown). */
function groupItems(n) {
  return [...document.querySelectorAll("li[data-group-key]")].filter(
    (item) => item.dataset.groupKey === n.group_key && item.dataset.category === n.category
      && item.classList.contains("is-unread") && item.dataset.id !== n.id && listTakes(item, n),
  );
}

/**
 * Merge a new notification into its group on screen: the old items go (the caller inserts the new one at the top
 * with the returned group). Returns { group, merged, unseen, focused }: merged when an item of the group was on
 * screen, unseen when that item was already counted in the badge, focused when keyboard focus was in its center
 * item.
 */
export function mergeIntoGroup(n) {
  if (!groupable(n)) return { group: null, merged: false, unseen: false, focused: false };
  const items = groupItems(n);
  // Keyboard focus inside the group's center item moves to its replacement (the caller focuses it).
  const focused = items.some((item) => item.id.startsWith("n-") && item.contains(document.activeElement));
  const previous = items.map(groupOf).find(Boolean) || { count: 0, members: [], actors: [], actorIds: [], unseen: false };
  const unseen = items.some((item) => item.dataset.unseen === "true");
  for (const item of items) item.remove();
  const known = previous.members.includes(n.id);
  const members = [n.id, ...previous.members.filter((id) => id !== n.id)];
  const actorIds = [...previous.actorIds];
  let actors = [...previous.actors];
  if (n.actor !== null && n.actor !== undefined) {
    const id = String(n.actor);
    if (!actorIds.includes(id)) actorIds.push(id);
    if (n.actor_name) actors = [n.actor_name, ...actors.filter((name) => name !== n.actor_name)].slice(0, ACTORS_MAX);
  }
  const group = {
    key: n.group_key,
    count: previous.count + (known ? 0 : 1),
    members,
    actors,
    actorIds,
    unseen,
  };
  return { group, merged: items.length > 0, unseen, focused };
}

/** The data-group-* attributes of an item (h()'s dataset). */
export function groupDataset(group) {
  if (!group) return {};
  const data = {
    groupKey: group.key,
    groupCount: String(group.count),
    groupMembers: group.members.join(" "),
    groupActors: JSON.stringify(group.actors),
    groupActorIds: group.actorIds.join(" "),
  };
  if (group.unseen) data.unseen = "true";
  return data;
}

/** The visible summary line of a group of more than one, or null. */
export function groupLine(group, tag, attrs) {
  if (!group || group.count < 2) return null;
  return h(tag, attrs, groupPhrase(group.actors, group.actorIds.length, group.count));
}

/** The ids an action on an item acts on: a group's members (what the person saw), else the item itself. */
export function groupIds(id) {
  const item = [...document.querySelectorAll("li[data-group-members]")].find((el) => el.dataset.id === id);
  const group = groupOf(item);
  return group && group.count > 1 && item.classList.contains("is-unread") ? group.members : [id];
}

/** The bell was opened: nothing on screen is new any more. */
export function clearUnseen() {
  for (const item of document.querySelectorAll("li[data-unseen]")) delete item.dataset.unseen;
}
