// One order, followed live until the status is final (completed, failed or
// cancelled): through the server's event stream (GET /api/orders/<id>/stream)
// for an order placed from this browser, else, or when the stream fails, by
// reading GET /api/orders/<id> every 500 ms. The live status says which
// (data-source="stream" or "poll"). The timeline comes from
// GET /api/orders/<id>/events when the server has that route; otherwise the
// section stays hidden.

import * as api from "../api.js";
import { fill, h, icon, isAbort, sleep, timeElement } from "../dom.js";
import { formatAmount, formatCents, toCents } from "../money.js";
import { CANCELLABLE, PAYMENT_LABELS, TERMINAL, statusInfo } from "../status.js";

const POLL_MS = 500;
const MAX_BACKOFF_MS = 5000;
const names = new Map(); // product id -> name, shared by every order page

export function orderView(outlet, [id], signal) {
  const heading = h("h1", { tabindex: "-1" }, "Your order");
  const live = h("div", { class: "status-live", role: "status", "aria-atomic": "true" });
  const connection = h("p", { class: "notice warning", role: "alert", hidden: true });
  // Cancel: only for an order placed from this browser (its token is here),
  // and only while the server may still accept it (pending, processing,
  // completed). The answer says which units went back in stock.
  const cancelError = h("p", { class: "field-error", role: "alert", hidden: true });
  const cancelOutcome = h("p", { class: "notice", role: "status", id: "cancel-outcome", hidden: true });
  const cancel = h(
    "button",
    {
      type: "button",
      class: "btn",
      hidden: true,
      onclick: async () => {
        cancel.disabled = true;
        cancelError.hidden = true;
        try {
          const order = await api.cancelOrder(id);
          showStatus(live, order);
          showStepper(stepper, order);
          cancel.hidden = true;
          cancelOutcome.textContent = restockedText(order.restocked);
          cancelOutcome.hidden = false;
          await showTimeline(id, signal, handlers);
        } catch (error) {
          if (error.status === 409) cancel.hidden = true;
          cancelError.textContent =
            error.status === 409
              ? `This order can no longer be cancelled (${error.fieldErrors[0]?.message ?? error.message}).`
              : error.message;
          cancelError.hidden = false;
        } finally {
          cancel.disabled = false;
        }
      },
    },
    "Cancel order",
  );
  const stepper = h("ol", { class: "stepper", "aria-label": "Progress" });
  const items = h("div", { class: "order-items" });
  const facts = h("dl", { class: "facts" });
  const timelineList = h("ol", { class: "timeline" });
  const timeline = h(
    "section",
    { class: "panel timeline-panel", "aria-labelledby": "timeline-title", hidden: true },
    h("h2", { id: "timeline-title" }, "Timeline"),
    timelineList,
  );

  outlet.append(
    h(
      "div",
      { class: "page-head" },
      h("a", { class: "back-link", href: "#/" }, icon("arrow-left", "icon tiny"), "Continue shopping"),
      heading,
      h("p", { class: "order-id" }, "Order id ", h("code", { id: "order-id" }, id)),
    ),
    h(
      "div",
      { class: "order-layout" },
      h(
        "div",
        { class: "order-main" },
        h(
          "section",
          { class: "panel status-panel", "aria-labelledby": "status-title" },
          h("h2", { id: "status-title", class: "visually-hidden" }, "Status"),
          live,
          connection,
          stepper,
          cancel,
          cancelError,
          cancelOutcome,
        ),
        h(
          "section",
          { class: "panel", "aria-labelledby": "items-title" },
          h("h2", { id: "items-title" }, "Items"),
          items,
        ),
      ),
      h(
        "div",
        { class: "order-side" },
        h(
          "section",
          { class: "panel", "aria-labelledby": "facts-title" },
          h("h2", { id: "facts-title" }, "Delivery and payment"),
          facts,
        ),
        timeline,
      ),
    ),
  );

  const handlers = {
    onSource(source) {
      live.dataset.source = source;
    },
    onOrder(order, changed) {
      if (changed) {
        showStatus(live, order);
        showStepper(stepper, order);
      }
      showItems(items, order);
      showFacts(facts, order);
      connection.hidden = true;
      cancel.hidden = !(CANCELLABLE.has(order.status) && api.placedHere(id));
    },
    onTimeline(events) {
      timeline.hidden = events === null;
      if (events) timelineList.replaceChildren(...events.map(timelineEntry));
    },
    onConnectionLost(message) {
      connection.replaceChildren(icon("alert", "icon tiny"), message);
      connection.hidden = false;
    },
    onMissing(error) {
      heading.textContent =
        error.status === 404 ? "Order not found" : error.status === 401 ? "Order details are private" : "Not an order id";
      outlet.querySelector(".order-layout").replaceChildren(
        h(
          "div",
          { class: "panel empty-state", role: "alert" },
          icon("alert", "icon empty-icon"),
          h(
            "p",
            {},
            error.status === 404
              ? "There is no order with this id. Check it and try again."
              : error.status === 401
                ? "Only the browser that placed this order can show its details. Look it up by id to see its status."
                : `This id cannot be looked up: ${error.fieldErrors[0]?.message ?? error.message}.`,
          ),
          h("a", { class: "btn primary", href: "#/track" }, "Look up an order"),
        ),
      );
    },
  };
  follow(id, signal, handlers);
  return { title: "Order", nav: null };
}

function restockedText(restocked) {
  const units = (restocked ?? []).reduce((sum, line) => sum + line.quantity, 0);
  if (units === 0) return "Your order is cancelled. Nothing had been reserved for it yet.";
  return `Your order is cancelled. ${units} ${units === 1 ? "item is" : "items are"} back in stock.`;
}

async function follow(id, signal, handlers) {
  const seen = { status: null, timelineAvailable: true };
  if (api.placedHere(id) && (await followStream(id, signal, handlers, seen))) return;
  handlers.onSource("poll");
  let failures = 0;
  while (!signal.aborted) {
    let order;
    try {
      order = await api.getOrder(id, signal);
      failures = 0;
    } catch (error) {
      if (isAbort(error)) return;
      if (error.status === 401) {
        // Not placed from this browser: the open status read tells an
        // unknown id (404) from someone else's order.
        handlers.onMissing(await existence(id, signal, error));
        return;
      }
      if (error.status === 400 || error.status === 404) {
        handlers.onMissing(error);
        return;
      }
      failures += 1;
      handlers.onConnectionLost(
        error instanceof api.NetworkError
          ? "Lost contact with the shop. Retrying…"
          : `The shop answered with an error (${error.status}). Retrying…`,
      );
      if (!(await pause(Math.min(POLL_MS * 2 ** failures, MAX_BACKOFF_MS), signal))) return;
      continue;
    }
    await present(id, order, signal, handlers, seen);
    if (signal.aborted || TERMINAL.has(order.status)) return;
    if (!(await pause(POLL_MS, signal))) return;
  }
}

/** Follows the order through the event stream, opened again when the server
 * ends it early (its time limit); true once the order's status is final or
 * the page is left, false when the stream fails (the caller then polls). */
async function followStream(id, signal, handlers, seen) {
  handlers.onSource("stream");
  while (!signal.aborted) {
    let last;
    try {
      last = await api.streamOrder(id, signal, (order) => present(id, order, signal, handlers, seen));
    } catch (error) {
      return isAbort(error);
    }
    if (last === null) return false;
    if (TERMINAL.has(last.status)) return true;
  }
  return true;
}

/** Shows one reading of the order (and its timeline when the status moved). */
async function present(id, order, signal, handlers, seen) {
  const changed = order.status !== seen.status;
  seen.status = order.status;
  await nameProducts(order, signal);
  if (signal.aborted) return;
  handlers.onOrder(order, changed);
  if (changed && seen.timelineAvailable) {
    seen.timelineAvailable = await showTimeline(id, signal, handlers);
  }
}

async function existence(id, signal, unauthorized) {
  try {
    await api.getOrderStatus(id, signal);
    return unauthorized;
  } catch (error) {
    return error.status === 404 || error.status === 400 ? error : unauthorized;
  }
}

async function pause(ms, signal) {
  try {
    await sleep(ms, signal);
    return true;
  } catch {
    return false;
  }
}

/** Shows the timeline; returns false when the server has none to give. */
async function showTimeline(id, signal, handlers) {
  try {
    const answer = await api.getOrderEvents(id, signal);
    const events = Array.isArray(answer?.events) ? answer.events : null;
    handlers.onTimeline(events);
    return events !== null;
  } catch (error) {
    if (!isAbort(error)) handlers.onTimeline(null);
    return false;
  }
}

async function nameProducts(order, signal) {
  const unknown = order.items.map((item) => item.product_id).filter((pid) => !names.has(pid));
  await Promise.all(
    unknown.map(async (pid) => {
      try {
        names.set(pid, (await api.getProduct(pid, signal)).name);
      } catch (error) {
        // A product that left the catalog is shown by its id (and not asked for again).
        if (error instanceof api.ApiError && error.status === 404) names.set(pid, pid);
      }
    }),
  );
}

/** A status badge; `live` spins the processing icon (not in the timeline's past). */
function badge(status, { live = false } = {}) {
  const info = statusInfo(status);
  return h(
    "span",
    { class: `badge status-${status}`, "data-status": status },
    icon(info.icon, `icon tiny${live && status === "processing" ? " spin" : ""}`),
    info.label,
  );
}

function showStatus(live, order) {
  const info = statusInfo(order.status);
  fill(
    live,
    h("p", { class: "status-line" }, h("span", { class: "visually-hidden" }, "Status: "), badge(order.status, { live: true })),
    h("p", { class: "status-message" }, info.message),
    order.failure_reason
      ? h("p", { class: "failure-reason" }, h("strong", {}, "Reason: "), order.failure_reason)
      : null,
  );
}

const STEP_LABELS = { pending: "Received", processing: "Processing" };

function showStepper(stepper, order) {
  const status = order.status;
  const final = TERMINAL.has(status) ? status : "completed";
  // A cancelled order shows the steps it went through before the cancel.
  const path =
    status === "cancelled"
      ? (order.history ?? []).map((step) => step.status)
      : ["pending", "processing", final];
  if (path[0] !== "pending") path.unshift("pending");
  if (path.at(-1) !== final) path.push(final);
  const steps = path.map((step) => [step, STEP_LABELS[step] ?? statusInfo(step).label]);
  const reached = steps.findIndex(([step]) => step === status);
  stepper.replaceChildren(
    ...steps.map(([step, label], index) => {
      const state = index < reached ? "done" : index === reached ? "current" : "todo";
      const tone = index === reached && (status === "failed" || status === "cancelled") ? " bad" : "";
      return h(
        "li",
        { class: `step ${state}${tone}`, "aria-current": state === "current" ? "step" : null },
        h("span", { class: "step-dot", "aria-hidden": "true" }),
        h("span", { class: "step-label" }, label),
        state === "done" ? h("span", { class: "visually-hidden" }, " (done)") : null,
      );
    }),
  );
}

function showItems(container, order) {
  const rows = order.items.map((item) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, names.get(item.product_id) ?? item.product_id),
      h("td", { class: "num" }, String(item.quantity)),
      h("td", { class: "num hide-narrow" }, formatAmount(item.unit_price)),
      h("td", { class: "num" }, formatCents(toCents(item.unit_price) * item.quantity)),
    ),
  );
  fill(
    container,
    h(
      "table",
      { class: "items" },
      h("caption", { class: "visually-hidden" }, "Items in this order"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Product"),
          h("th", { scope: "col", class: "num" }, "Qty"),
          h("th", { scope: "col", class: "num hide-narrow" }, "Price"),
          h("th", { scope: "col", class: "num" }, "Subtotal"),
        ),
      ),
      h("tbody", {}, rows),
      h(
        "tfoot",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "row", colspan: 2 }, "Total"),
          h("td", { class: "hide-narrow" }),
          h("td", { class: "num total", id: "order-total" }, formatAmount(order.total)),
        ),
      ),
    ),
  );
}

function showFacts(facts, order) {
  fill(
    facts,
    fact("Deliver to", [order.customer.name, h("br"), order.customer.address]),
    fact("Email", order.customer.email),
    fact("Payment", PAYMENT_LABELS[order.payment_method] ?? order.payment_method),
    fact("Placed", timeElement(order.created_at)),
    fact("Last update", timeElement(order.updated_at)),
  );
}

function fact(term, value) {
  return h("div", { class: "fact" }, h("dt", {}, term), h("dd", {}, value));
}

function timelineEntry(event) {
  return h(
    "li",
    { class: "timeline-entry" },
    badge(event.status),
    timeElement(event.at),
    event.reason ? h("p", { class: "timeline-reason" }, event.reason) : null,
  );
}
