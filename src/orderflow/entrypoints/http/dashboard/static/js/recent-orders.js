// Orders placed from this browser, newest first, so "Track order" can list
// them. Only ids, totals and times: the server has the rest.

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
  const entry = { id: order.id, total: order.total, created_at: order.created_at };
  const others = recentOrders().filter((known) => known.id !== order.id);
  try {
    localStorage.setItem(KEY, JSON.stringify([entry, ...others].slice(0, KEEP)));
  } catch {
    // Storage unavailable: the order page link still works.
  }
}
