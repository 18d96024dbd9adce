// The cart as a drawer: a modal <dialog>, so the browser traps focus in it,
// closes it on Escape and gives focus back to the Cart button.

import { cart } from "./cart.js";
import { announce, h, hidden, icon } from "./dom.js";
import { formatAmount, formatCents, toCents } from "./money.js";
import { go } from "./router.js";

let drawer;

export function openCart() {
  if (!drawer.open) drawer.showModal();
}

export function closeCart() {
  if (drawer.open) drawer.close();
}

export function setUpCartDrawer() {
  drawer = document.getElementById("cart-drawer");
  document.getElementById("cart-button").addEventListener("click", openCart);
  document.getElementById("cart-close").addEventListener("click", closeCart);
  // A click on the backdrop lands on the <dialog> itself, outside its panel.
  drawer.addEventListener("click", (event) => {
    if (event.target === drawer) closeCart();
  });
  cart.addEventListener("change", render);
  render();
}

/** A − [n] + control for one cart line; used by the drawer and checkout. */
export function quantityControl(line, idPrefix) {
  const inputId = `${idPrefix}-qty-${line.id}`;
  const limit = Math.max(1, cart.limit(line));
  const input = h("input", {
    id: inputId,
    class: "qty-input",
    type: "number",
    inputmode: "numeric",
    min: 1,
    max: limit,
    value: line.quantity,
    onchange: () => {
      const kept = cart.setQuantity(line.id, Number(input.value));
      if (kept !== Number(input.value)) {
        announce(`Quantity of ${line.name} set to ${kept}; ${limit} available.`);
      }
    },
  });
  return h(
    "div",
    { class: "qty" },
    h("label", { for: inputId, class: "visually-hidden" }, `Quantity of ${line.name}`),
    h(
      "button",
      {
        type: "button",
        id: `${inputId}-less`,
        class: "qty-step",
        disabled: line.quantity <= 1,
        onclick: () => cart.setQuantity(line.id, line.quantity - 1),
      },
      h("span", { "aria-hidden": "true" }, "−"),
      hidden(`One less ${line.name}`),
    ),
    input,
    h(
      "button",
      {
        type: "button",
        id: `${inputId}-more`,
        class: "qty-step",
        disabled: line.quantity >= limit,
        onclick: () => cart.setQuantity(line.id, line.quantity + 1),
      },
      h("span", { "aria-hidden": "true" }, "+"),
      hidden(`One more ${line.name}`),
    ),
  );
}

/** Re-renders `container` with `build()` and puts focus back where it was:
 * on the same control, on its quantity input when a step button became
 * disabled, or on `fallback` when the control is gone. */
export function renderKeepingFocus(container, build, fallback) {
  const focusedId = container.contains(document.activeElement) ? document.activeElement.id : "";
  container.replaceChildren(...build());
  if (!focusedId) return;
  let again = document.getElementById(focusedId);
  if (again?.disabled) again = document.getElementById(focusedId.replace(/-(less|more)$/, ""));
  (again && !again.disabled ? again : fallback)?.focus();
}

function render() {
  const body = document.getElementById("cart-body");
  const foot = document.getElementById("cart-foot");
  const lines = cart.lines();
  renderKeepingFocus(body, () =>
    lines.length === 0
      ? [
          h(
            "div",
            { class: "empty-state" },
            icon("cart", "icon empty-icon"),
            h("p", {}, "Your cart is empty."),
          ),
        ]
      : [h("ul", { class: "cart-lines", "aria-label": "Items in your cart" }, lines.map(cartLine))],
    document.getElementById("cart-close"),
  );
  foot.replaceChildren(
    ...(lines.length === 0
      ? [
          h(
            "button",
            { type: "button", class: "btn secondary block", onclick: closeCart },
            "Continue shopping",
          ),
        ]
      : [
          h(
            "p",
            { class: "cart-total" },
            h("span", {}, "Total"),
            h("strong", { id: "cart-total" }, formatCents(cart.totalCents())),
          ),
          h("p", { class: "fine-print" }, "Prices are confirmed when you place the order."),
          h(
            "button",
            {
              type: "button",
              class: "btn primary block",
              onclick: () => {
                closeCart();
                go("#/checkout");
              },
            },
            "Go to checkout",
          ),
        ]),
  );
}

function cartLine(line) {
  return h(
    "li",
    { class: "cart-line" },
    h(
      "div",
      { class: "cart-line-main" },
      h("p", { class: "cart-line-name" }, line.name),
      h("p", { class: "cart-line-price" }, `${formatAmount(line.price)} each`),
    ),
    quantityControl(line, "cart"),
    h(
      "p",
      { class: "cart-line-total" },
      formatCents(toCents(line.price) * line.quantity),
    ),
    h(
      "button",
      {
        type: "button",
        id: `cart-remove-${line.id}`,
        class: "link-button",
        onclick: () => {
          cart.remove(line.id);
          announce(`${line.name} removed from the cart.`);
        },
      },
      "Remove",
      hidden(` ${line.name}`),
    ),
  );
}
