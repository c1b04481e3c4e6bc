// Which notifications a center view shows. Pure: the same rules as the server's selectors, applied to live frames
// so that an arriving or changed item appears in (or leaves) the list exactly as a reload would show it.

export function csv(value) {
  return value ? value.split(",").filter(Boolean) : [];
}

/** Read the filters the server rendered into the list's data attributes. */
export function filtersOf(dataset) {
  return {
    status: dataset.status || "inbox",
    categories: csv(dataset.categories),
    priorities: csv(dataset.priorities),
    query: (dataset.query || "").trim().toLowerCase(),
  };
}

/** Would the server have rendered `n` ({is_read, archived_at, saved_at, snoozed_until, category, priority,
 * title, body}) in this view? */
export function matches(filters, n) {
  const { status, categories, priorities, query } = filters;
  const archived = Boolean(n.archived_at);
  const snoozed = Boolean(n.snoozed_until);
  if (status === "saved") {
    if (!n.saved_at) return false;
  } else if (status === "snoozed") {
    if (!snoozed) return false;
  } else if (status !== "all") {
    if (snoozed) return false; // waiting in Snoozed: in no other view but all and saved
    if (status === "archived" && !archived) return false;
    if (status !== "archived" && archived) return false;
  }
  if (status === "unread" && n.is_read) return false;
  if (status === "read" && !n.is_read) return false;
  if (categories.length && !categories.includes(n.category)) return false;
  if (priorities.length && !priorities.includes(n.priority)) return false;
  if (query && n.title !== undefined) {
    const text = `${n.title} ${n.body || ""}`.toLowerCase();
    if (!query.split(/\s+/).every((word) => text.includes(word))) return false;
  }
  return true;
}
