// Look up an order by id. An order placed from this browser opens its page
// (its access token is kept here); any other shows its status from the open
// status read (GET /order/<id>: id, product, quantity, status). The server
// checks the id: a malformed one comes back as a 400 naming `id`, an unknown
// one as a 404, both shown at the field.

import * as api from "../api.js";
import { h, icon, isAbort, timeElement } from "../dom.js";
import { formatAmount } from "../money.js";
import { recentOrders } from "../recent-orders.js";
import { go } from "../router.js";
import { statusInfo } from "../status.js";

export function trackView(outlet, _params, signal) {
  const input = h("input", {
    id: "order-lookup",
    name: "order",
    type: "text",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "e.g. 0b6f3c1e-8a1d-4c56-9a8e-2f0d3c4b5a69",
    "aria-describedby": "order-lookup-hint order-lookup-error",
  });
  const error = h("p", { class: "field-error", id: "order-lookup-error", hidden: true });
  const field = h(
    "div",
    { class: "field" },
    h("label", { for: "order-lookup" }, "Order id"),
    h("p", { class: "hint", id: "order-lookup-hint" }, "It is on the order page and in the confirmation email."),
    error,
    input,
  );
  const button = h("button", { type: "submit", class: "btn primary" }, "Find order");
  const found = h("p", { class: "lookup-result", role: "status", hidden: true });

  const fail = (message) => {
    error.replaceChildren(icon("alert", "icon tiny"), message);
    error.hidden = false;
    field.classList.add("invalid");
    input.setAttribute("aria-invalid", "true");
    input.focus();
  };

  const form = h(
    "form",
    {
      class: "panel lookup",
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        error.hidden = true;
        found.hidden = true;
        field.classList.remove("invalid");
        input.removeAttribute("aria-invalid");
        const id = input.value.trim();
        if (!id) {
          fail("Enter an order id.");
          return;
        }
        button.disabled = true;
        try {
          if (api.placedHere(id)) {
            const order = await api.getOrder(id, signal);
            go(`#/order/${order.id}`);
            return;
          }
          const order = await api.getOrderStatus(id, signal);
          found.replaceChildren(
            "Order ",
            h("code", {}, order.id.slice(0, 8)),
            `…: ${order.quantity} × ${order.product}, ${statusInfo(order.status).label.toLowerCase()}. `,
            "Its details show only in the browser that placed it.",
          );
          found.hidden = false;
        } catch (problem) {
          if (isAbort(problem)) return;
          if (problem.status === 404) fail("There is no order with this id.");
          else if (problem.status === 400) fail(problem.fieldErrors[0]?.message ?? problem.message);
          else fail(problem.message);
        } finally {
          button.disabled = false;
        }
      },
    },
    field,
    button,
    found,
  );

  const recent = recentOrders();
  outlet.append(
    h("h1", { tabindex: "-1" }, "Track an order"),
    h("div", { class: "track-layout" }, form, recent.length ? recentList(recent) : null),
  );
  return { title: "Track an order", nav: "track" };
}

function recentList(orders) {
  return h(
    "section",
    { class: "panel", "aria-labelledby": "recent-title" },
    h("h2", { id: "recent-title" }, "Placed from this device"),
    h(
      "ul",
      { class: "recent-orders" },
      orders.map((order) =>
        h(
          "li",
          {},
          h("a", { href: `#/order/${order.id}` }, "Order ", h("code", {}, order.id.slice(0, 8)), "…"),
          h("span", { class: "recent-total" }, formatAmount(order.total)),
          order.created_at ? timeElement(order.created_at, { dateStyle: "medium", timeStyle: "short" }) : null,
        ),
      ),
    ),
  );
}
