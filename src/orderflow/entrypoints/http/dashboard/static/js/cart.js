// The cart lives in localStorage, so it survives reloads and is shared by
// the shop's tabs (the storage event keeps them in step). Each line keeps
// what the cart shows (name, price, stock when added); checkout refreshes it
// from the server, and the server prices the order anyway.

import { toCents } from "./money.js";

const KEY = "orderflow.cart.v1";
export const MAX_QUANTITY = 100; // the API's default per-line cap (ORDERFLOW_MAX_LINE_QUANTITY)

function validLine(line) {
  return (
    line &&
    typeof line.id === "string" &&
    typeof line.name === "string" &&
    typeof line.price === "string" &&
    /^\d+(\.\d{1,2})?$/.test(line.price) &&
    Number.isInteger(line.stock) &&
    Number.isInteger(line.quantity) &&
    line.quantity >= 1
  );
}

class Cart extends EventTarget {
  #lines = new Map();

  constructor() {
    super();
    this.#load();
    window.addEventListener("storage", (event) => {
      if (event.key !== KEY) return;
      this.#load();
      this.#changed();
    });
  }

  #load() {
    this.#lines = new Map();
    try {
      const stored = JSON.parse(localStorage.getItem(KEY) ?? "[]");
      for (const line of Array.isArray(stored) ? stored : []) {
        if (validLine(line)) this.#lines.set(line.id, line);
      }
    } catch {
      // Unreadable or blocked storage: start with an empty cart.
    }
  }

  #changed() {
    try {
      localStorage.setItem(KEY, JSON.stringify([...this.#lines.values()]));
    } catch {
      // Storage full or disabled: the cart still works for this page.
    }
    this.dispatchEvent(new Event("change"));
  }

  lines() {
    return [...this.#lines.values()];
  }

  get(id) {
    return this.#lines.get(id);
  }

  count() {
    return this.lines().reduce((sum, line) => sum + line.quantity, 0);
  }

  totalCents() {
    return this.lines().reduce((sum, line) => sum + toCents(line.price) * line.quantity, 0);
  }

  /** The most of this product one order can take: its stock, at most MAX_QUANTITY. */
  limit(product) {
    return Math.max(0, Math.min(MAX_QUANTITY, product.stock));
  }

  /** Adds one of `product`; returns false when stock (or the limit) is reached. */
  add(product) {
    const current = this.#lines.get(product.id)?.quantity ?? 0;
    if (current + 1 > this.limit(product)) return false;
    this.#lines.set(product.id, {
      id: product.id,
      name: product.name,
      price: product.price,
      stock: product.stock,
      quantity: current + 1,
    });
    this.#changed();
    return true;
  }

  /** Sets a line's quantity within 1..limit; returns the quantity kept. */
  setQuantity(id, quantity) {
    const line = this.#lines.get(id);
    if (!line) return 0;
    const kept = Math.min(Math.max(1, Math.trunc(quantity) || 1), Math.max(1, this.limit(line)));
    this.#lines.set(id, { ...line, quantity: kept });
    this.#changed();
    return kept;
  }

  remove(id) {
    if (this.#lines.delete(id)) this.#changed();
  }

  clear() {
    this.#lines.clear();
    this.#changed();
  }

  /** Takes the server's current name, price and stock for a line. */
  refresh(product) {
    const line = this.#lines.get(product.id);
    if (!line) return;
    this.#lines.set(product.id, {
      ...line,
      name: product.name,
      price: product.price,
      stock: product.stock,
    });
    this.#changed();
  }
}

export const cart = new Cart();
