// Orders placed from this browser, newest first, so "Track order" can list
// them: ids, totals, times, and each order's access token, which the order
// pages send as `Authorization: Bearer <token>` (the server shows an order
// only to its owner). The token stays in this browser's storage, as a
// password manager would keep a password; it grants that one order only.

const KEY = "orderflow.orders.v1";
const KEEP = 10;

export function recentOrders() {
  try {
    const stored = JSON.parse(localStorage.getItem(KEY) ?? "[]");
    return Array.isArray(stored)
      ? stored.filter((entry) => typeof entry?.id === "string" && typeof entry?.total === "string")
      : [];
  } catch {
    return [];
  }
}

export function rememberOrder(order) {
  const entry = {
    id: order.id,
    total: order.total,
    created_at: order.created_at,
    access_token: typeof order.access_token === "string" ? order.access_token : undefined,
  };
  const others = recentOrders().filter((known) => known.id !== order.id);
  try {
    localStorage.setItem(KEY, JSON.stringify([entry, ...others].slice(0, KEEP)));
  } catch {
    // Storage unavailable: the order page link still works.
  }
}

/** The access token of an order placed from this browser, or null. */
export function accessTokenFor(id) {
  const found = recentOrders().find((entry) => entry.id === id);
  return typeof found?.access_token === "string" ? found.access_token : null;
}
