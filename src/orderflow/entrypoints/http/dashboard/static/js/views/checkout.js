// Checkout: the customer's details and payment method, posted to
// /api/orders with an Idempotency-Key. The server is the one validator: its
// problem+json field errors are shown next to the matching fields.

import * as api from "../api.js";
import { cart } from "../cart.js";
import { quantityControl, renderKeepingFocus } from "../cart-drawer.js";
import { announce, h, icon, isAbort } from "../dom.js";
import { formatAmount, formatCents, toCents } from "../money.js";
import { rememberOrder } from "../recent-orders.js";
import { go } from "../router.js";

const PAYMENT_METHODS = [
  ["card", "Card"],
  ["paypal", "PayPal"],
  ["bank_transfer", "Bank transfer"],
  ["cash_on_delivery", "Cash on delivery"],
];
// The server names fields by their path in the request body.
const FIELD_IDS = {
  "customer.name": "name",
  "customer.email": "email",
  "customer.address": "address",
  payment_method: "payment",
};
const LABELS = {
  name: "Full name",
  email: "Email",
  address: "Delivery address",
  payment: "Payment method",
};

// Kept while the page lives: coming back from the shop keeps what was typed.
const draft = { name: "", email: "", address: "", payment_method: "card" };
// The key of the last attempt and the body it was sent with. Resending the
// same body (after a network error or a 503) reuses the key, so the server
// answers with the first attempt's order instead of placing a second one.
let attempt = null;

export function checkoutView(outlet, _params, signal) {
  if (cart.count() === 0) {
    outlet.append(
      h("h1", { tabindex: "-1" }, "Checkout"),
      h(
        "div",
        { class: "empty-state panel" },
        icon("cart", "icon empty-icon"),
        h("p", {}, "Your cart is empty."),
        h("a", { class: "btn primary", href: "#/" }, "Browse products"),
      ),
    );
    return { title: "Checkout" };
  }

  const missing = new Set(); // products the catalog no longer has
  const summary = h("div", {
    id: "error-summary",
    class: "error-summary",
    role: "alert",
    tabindex: "-1",
    hidden: true,
  });
  const submit = h("button", { type: "submit", class: "btn primary block large" });
  const lineList = h("ul", { class: "summary-lines", "aria-label": "Items" });
  const totalValue = h("strong", { id: "checkout-total" });
  let lineErrors = new Map(); // cart line id -> messages from the last answer

  const form = h(
    "form",
    { class: "checkout-form panel", novalidate: true, "aria-labelledby": "details-title" },
    h("h2", { id: "details-title" }, "Your details"),
    summary,
    textField("name", { autocomplete: "name", value: draft.name }),
    textField("email", {
      type: "email",
      autocomplete: "email",
      value: draft.email,
      hint: "We send the confirmation here.",
    }),
    textField("address", { multiline: true, autocomplete: "street-address", value: draft.address }),
    paymentFieldset(),
    submit,
    h("p", { class: "fine-print" }, "After you place the order, its page follows it live."),
  );

  const renderSummary = () => {
    renderKeepingFocus(
      lineList,
      () => cart.lines().map(summaryLine),
      submit,
    );
    totalValue.textContent = formatCents(cart.totalCents());
    if (!submit.disabled) submit.replaceChildren(`Place order · ${formatCents(cart.totalCents())}`);
  };

  function summaryLine(line) {
    const messages = [
      ...(missing.has(line.id) ? ["is no longer sold; remove it to continue"] : []),
      ...(line.stock <= 0 && !missing.has(line.id) ? ["is out of stock; remove it to continue"] : []),
      ...(lineErrors.get(line.id) ?? []),
    ];
    return h(
      "li",
      { class: `summary-line${messages.length ? " invalid" : ""}` },
      h(
        "div",
        { class: "summary-line-main" },
        h("p", { class: "summary-line-name" }, line.name),
        h("p", { class: "summary-line-price" }, `${formatAmount(line.price)} each`),
        messages.length
          ? h("p", { class: "field-error" }, icon("alert", "icon tiny"), messages.join("; "))
          : null,
      ),
      quantityControl(line, "checkout"),
      h("p", { class: "summary-line-total" }, formatCents(toCents(line.price) * line.quantity)),
      h(
        "button",
        {
          type: "button",
          id: `checkout-remove-${line.id}`,
          class: "link-button",
          onclick: () => cart.remove(line.id),
        },
        "Remove",
        h("span", { class: "visually-hidden" }, ` ${line.name}`),
      ),
    );
  }

  const onCartChange = () => {
    if (cart.count() === 0) {
      go("#/");
      return;
    }
    renderSummary();
  };
  cart.addEventListener("change", onCartChange);
  signal.addEventListener("abort", () => cart.removeEventListener("change", onCartChange), {
    once: true,
  });

  form.addEventListener("input", (event) => {
    const target = event.target;
    if (target.name in draft) draft[target.name] = target.value;
    const id = target.type === "radio" ? "payment" : target.id;
    clearFieldError(id);
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (submit.disabled) return;
    clearErrors();
    const lines = cart.lines();
    const blocked = lines.filter((line) => missing.has(line.id) || line.stock <= 0);
    if (blocked.length) {
      showSummary([`Remove ${blocked.map((line) => line.name).join(", ")} from the order first.`]);
      return;
    }
    const body = {
      customer: { name: draft.name, email: draft.email, address: oneLine(draft.address) },
      items: lines.map((line) => ({ product_id: line.id, quantity: line.quantity })),
      payment_method: draft.payment_method,
    };
    const sent = JSON.stringify(body);
    if (attempt?.body !== sent) attempt = { key: api.newIdempotencyKey(), body: sent };
    setBusy(true);
    try {
      const order = await api.placeOrder(body, attempt.key);
      attempt = null;
      rememberOrder(order);
      // Emptying the cart must not send the reader to the shop first.
      cart.removeEventListener("change", onCartChange);
      cart.clear();
      announce("Order placed.");
      go(`#/order/${order.id}`);
    } catch (error) {
      setBusy(false);
      showProblem(error, lines);
    }
  });

  function setBusy(busy) {
    submit.disabled = busy;
    form.setAttribute("aria-busy", String(busy));
    if (busy) submit.replaceChildren(icon("spinner", "icon spin"), "Placing order…");
    else renderSummary();
  }

  function showProblem(error, lines) {
    if (error instanceof api.ApiError && error.fieldErrors.length) {
      const general = [];
      lineErrors = new Map();
      for (const { field, message } of error.fieldErrors) {
        const id = FIELD_IDS[field];
        const item = /^items\[(\d+)\]\.?(.*)$/.exec(field);
        const text = humane(message);
        if (id) {
          showFieldError(id, text);
          general.push({ id, text: `${LABELS[id]}: ${text}` });
        } else if (item && lines[Number(item[1])]) {
          const line = lines[Number(item[1])];
          const what = item[2] === "quantity" ? "quantity" : "product";
          lineErrors.set(line.id, [...(lineErrors.get(line.id) ?? []), `${what}: ${text}`]);
          general.push({ text: `${line.name}, ${what}: ${text}` });
        } else {
          general.push({ text: field === "body" ? text : `${field}: ${text}` });
        }
      }
      renderSummary();
      showSummary(general);
    } else if (error instanceof api.ApiError && error.status === 503) {
      showSummary([
        "The shop cannot take orders right now and nothing was placed. Try again in a few seconds.",
      ]);
    } else {
      showSummary([error.message]);
    }
  }

  function showSummary(items) {
    summary.replaceChildren(
      h("h3", {}, items.length === 1 ? "There is a problem" : `There are ${items.length} problems`),
      h(
        "ul",
        {},
        items.map((item) => {
          const entry = typeof item === "string" ? { text: item } : item;
          return h(
            "li",
            {},
            entry.id
              ? h(
                  "a",
                  {
                    href: `#${focusTarget(entry.id)}`,
                    onclick: (event) => {
                      event.preventDefault();
                      document.getElementById(focusTarget(entry.id))?.focus();
                    },
                  },
                  entry.text,
                )
              : entry.text,
          );
        }),
      ),
    );
    summary.hidden = false;
    summary.focus();
  }

  function clearErrors() {
    summary.hidden = true;
    summary.replaceChildren();
    lineErrors = new Map();
    for (const id of Object.values(FIELD_IDS)) clearFieldError(id);
    renderSummary();
  }

  outlet.append(
    h(
      "div",
      { class: "page-head" },
      h("a", { class: "back-link", href: "#/" }, icon("arrow-left", "icon tiny"), "Continue shopping"),
      h("h1", { tabindex: "-1" }, "Checkout"),
    ),
    h(
      "div",
      { class: "checkout" },
      form,
      h(
        "aside",
        { class: "order-summary panel", "aria-labelledby": "summary-title" },
        h("h2", { id: "summary-title" }, "Order summary"),
        lineList,
        h("p", { class: "summary-total" }, h("span", {}, "Total"), totalValue),
        h("p", { class: "fine-print" }, "Prices and stock are checked again when the order is placed."),
      ),
    ),
  );
  renderSummary();
  refreshLines(signal, missing).then(renderSummary, () => {});
  return { title: "Checkout" };
}

/** Takes current prices and stock from the catalog; a vanished product is marked. */
async function refreshLines(signal, missing) {
  await Promise.all(
    cart.lines().map(async (line) => {
      try {
        cart.refresh(await api.getProduct(line.id, signal));
      } catch (error) {
        if (isAbort(error)) throw error;
        if (error.status === 404) missing.add(line.id);
      }
    }),
  );
}

function textField(id, { type = "text", multiline = false, autocomplete, value, hint }) {
  const describedBy = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(" ");
  const control = multiline
    ? h("textarea", { id, name: id, rows: 3, autocomplete, "aria-describedby": describedBy })
    : h("input", { id, name: id, type, autocomplete, "aria-describedby": describedBy });
  control.value = value;
  return h(
    "div",
    { class: "field", id: `${id}-field` },
    h("label", { for: id }, LABELS[id]),
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    h("p", { class: "field-error", id: `${id}-error`, hidden: true }),
    control,
  );
}

function paymentFieldset() {
  return h(
    "fieldset",
    { class: "field payment", id: "payment-field", "aria-describedby": "payment-error" },
    h("legend", {}, LABELS.payment),
    h("p", { class: "field-error", id: "payment-error", hidden: true }),
    h(
      "div",
      { class: "choices" },
      PAYMENT_METHODS.map(([value, label]) =>
        h(
          "label",
          { class: "choice", for: `pay-${value}` },
          h("input", {
            type: "radio",
            id: `pay-${value}`,
            name: "payment_method",
            value,
            checked: draft.payment_method === value,
          }),
          h("span", {}, label),
        ),
      ),
    ),
  );
}

function focusTarget(id) {
  return id === "payment" ? `pay-${draft.payment_method}` : id;
}

function showFieldError(id, message) {
  const error = document.getElementById(`${id}-error`);
  if (!error) return;
  error.replaceChildren(icon("alert", "icon tiny"), message);
  error.hidden = false;
  document.getElementById(`${id}-field`)?.classList.add("invalid");
  document.getElementById(id)?.setAttribute("aria-invalid", "true");
}

function clearFieldError(id) {
  const error = document.getElementById(`${id}-error`);
  if (!error || error.hidden) return;
  error.hidden = true;
  error.replaceChildren();
  document.getElementById(`${id}-field`)?.classList.remove("invalid");
  document.getElementById(id)?.removeAttribute("aria-invalid");
}

/** The API takes an address as one line (it refuses control characters,
 * newlines included); the textarea's lines become comma-separated parts. */
function oneLine(address) {
  return address
    .split(/\r?\n/)
    .map((part) => part.trim())
    .filter(Boolean)
    .join(", ");
}

/** pydantic's wording for an empty required string, said the way a form says it. */
function humane(message) {
  return /at least 1 character/.test(message) ? "is required" : message;
}
