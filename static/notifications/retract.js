// A producer's update and retraction (issue 13), as frames turn them into the page:
//   notification_updated with `notification`: the item is rebuilt from the new content where it stands (center and
//   dropdown), keeping keyboard focus on it; notification_retracted: its items leave this tab at once (the
//   unread_count frame that follows sets the badge).

import { centerItem, centerList, dropdownItem, enhanceItem, itemsFor, removeItem, updateEmptyStates } from "./render.js";

export function replaceContent(n) {
  if (!n || typeof n.id !== "string" || typeof n.seq !== "number") return;
  for (const item of itemsFor(n.id)) {
    let fresh = null;
    if (item.classList.contains("n-item")) fresh = centerItem(n);
    else if (item.classList.contains("dd-item")) fresh = dropdownItem(n);
    if (!fresh) continue;
    fresh.classList.remove("is-new"); // not new: the same notification, edited
    const hadFocus = item.contains(document.activeElement);
    item.replaceWith(fresh);
    if (fresh.classList.contains("n-item")) enhanceItem(fresh);
    if (hadFocus) (fresh.querySelector("a, button") || fresh).focus();
  }
}

export function retractItems(ids) {
  const list = centerList();
  for (const id of Array.isArray(ids) ? ids : []) {
    if (typeof id !== "string") continue;
    for (const item of itemsFor(id)) {
      if (list && list.contains(item)) removeItem(item); // keeps focus in the list
      else item.remove();
    }
  }
  updateEmptyStates();
}
