// The catalog: a search box that searches as you type (debounced, stale
// answers discarded) and product cards with price, stock and Add to cart.

import * as api from "../api.js";
import { cart } from "../cart.js";
import { announce, h, hidden, icon, isAbort } from "../dom.js";
import { formatAmount } from "../money.js";
import { productIcon, productTint } from "../product-icon.js";

const PAGE = 24;
const DEBOUNCE_MS = 250;
const LOW_STOCK = 5;
let lastSearch = ""; // kept while the page lives, so Back to the shop keeps the search

export function shopView(outlet, _params, signal) {
  const input = h("input", {
    id: "search",
    class: "search-input",
    type: "search",
    name: "search",
    autocomplete: "off",
    spellcheck: "false",
    maxlength: 200,
    placeholder: "Try “laptop” or “usb”",
    "aria-controls": "product-list",
    "aria-describedby": "search-status",
    value: lastSearch,
  });
  const status = h("p", { id: "search-status", class: "search-status", role: "status" });
  const problem = h("p", { class: "notice error", role: "alert", hidden: true });
  const grid = h("ul", { id: "product-list", class: "product-grid", "aria-label": "Products" });
  const more = h("button", { type: "button", class: "btn secondary", hidden: true }, "Show more");

  let request = null; // the search in flight, aborted when a newer one starts
  let timer = 0;
  let shown = 0;

  async function load({ append = false } = {}) {
    request?.abort();
    request = new AbortController();
    const mine = request;
    signal.addEventListener("abort", () => mine.abort(), { once: true });
    const search = input.value.trim();
    grid.setAttribute("aria-busy", "true");
    if (!append) status.textContent = "Searching…";
    try {
      const page = await api.searchProducts(
        { search, limit: PAGE, offset: append ? shown : 0 },
        mine.signal,
      );
      const cards = page.items.map(productCard);
      if (append) grid.append(...cards);
      else grid.replaceChildren(...cards);
      shown = (append ? shown : 0) + page.items.length;
      more.hidden = shown >= page.total;
      problem.hidden = true;
      status.textContent = resultText(page.total, page.total_exact, search);
      if (append) cards[0]?.querySelector("button")?.focus();
    } catch (error) {
      if (isAbort(error)) return;
      problem.textContent =
        error.status === 400
          ? `That search is not possible: ${error.fieldErrors[0]?.message ?? error.message}`
          : `Could not load products. ${error.message}`;
      problem.hidden = false;
      status.textContent = "";
    } finally {
      if (request === mine) grid.removeAttribute("aria-busy");
    }
  }

  input.addEventListener("input", () => {
    lastSearch = input.value;
    window.clearTimeout(timer);
    timer = window.setTimeout(() => load(), DEBOUNCE_MS);
  });
  signal.addEventListener("abort", () => window.clearTimeout(timer), { once: true });
  more.addEventListener("click", () => load({ append: true }));
  const onCartChange = () => grid.querySelectorAll("[data-in-cart]").forEach(showInCart);
  cart.addEventListener("change", onCartChange);
  signal.addEventListener("abort", () => cart.removeEventListener("change", onCartChange), {
    once: true,
  });

  outlet.append(
    h(
      "section",
      { class: "hero", "aria-labelledby": "shop-title" },
      h("h1", { id: "shop-title", tabindex: "-1" }, "Find what you need"),
      h("p", { class: "lede" }, "Everything in stock ships today. Order status updates live."),
      h(
        "form",
        {
          role: "search",
          class: "search",
          onsubmit: (event) => {
            event.preventDefault();
            window.clearTimeout(timer);
            load();
          },
        },
        h("label", { for: "search", class: "search-label" }, "Search products"),
        h("div", { class: "search-field" }, icon("search", "icon search-icon"), input),
      ),
    ),
    h(
      "section",
      { class: "catalog", "aria-labelledby": "catalog-title" },
      h(
        "div",
        { class: "catalog-head" },
        h("h2", { id: "catalog-title" }, "Products"),
        status,
      ),
      problem,
      grid,
      h("div", { class: "more" }, more),
    ),
  );
  load();
  return { title: "Shop", nav: "shop" };
}

function resultText(total, exact, search) {
  if (total === 0) return search ? `No products match “${search}”.` : "The catalog is empty.";
  // Past the server's count cap, total is a lower bound: at least that many.
  const count = exact === false ? `More than ${total - 1}` : `${total}`;
  const noun = total === 1 && exact !== false ? "product" : "products";
  return search ? `${count} ${noun} match “${search}”.` : `${count} ${noun}`;
}

function showInCart(element) {
  const quantity = cart.get(element.dataset.inCart)?.quantity ?? 0;
  element.replaceChildren(...(quantity ? [icon("check", "icon tiny"), `${quantity} in cart`] : []));
}

function stockBadge(product) {
  if (product.stock <= 0) return h("p", { class: "stock out" }, "Out of stock");
  if (product.stock <= LOW_STOCK) {
    return h("p", { class: "stock low" }, `Only ${product.stock} left`);
  }
  return h("p", { class: "stock in" }, `In stock (${product.stock})`);
}

function productCard(product) {
  const titleId = `product-${product.id}-name`;
  // Visual only: adding is announced through the live region.
  const inCart = h("p", { class: "in-cart", "aria-hidden": "true", "data-in-cart": product.id });
  showInCart(inCart);
  const soldOut = product.stock <= 0;
  const button = h(
    "button",
    {
      type: "button",
      class: "btn primary add",
      disabled: soldOut,
      onclick: () => {
        if (cart.add(product)) {
          announce(`${product.name} added to the cart. ${cart.count()} items in the cart.`);
        } else {
          announce(`No more ${product.name} available: ${product.stock} in stock.`);
        }
      },
    },
    // One span: the button is a flex box, and its gap would split the words.
    h(
      "span",
      {},
      ...(soldOut
        ? ["Out of stock", hidden(`: ${product.name}`)]
        : ["Add ", hidden(`${product.name} `), "to cart"]),
    ),
  );
  return h(
    "li",
    { class: `card${soldOut ? " sold-out" : ""}` },
    h(
      "article",
      { "aria-labelledby": titleId },
      h(
        "div",
        { class: `thumb ${productTint(product)}` },
        icon(productIcon(product), "icon product-icon"),
      ),
      h(
        "div",
        { class: "card-body" },
        h("h3", { id: titleId, class: "card-title" }, product.name),
        h("p", { class: "card-desc" }, product.description),
        h(
          "div",
          { class: "card-meta" },
          h("p", { class: "price" }, formatAmount(product.price)),
          stockBadge(product),
        ),
        h("div", { class: "card-actions" }, button, inCart),
      ),
    ),
  );
}
