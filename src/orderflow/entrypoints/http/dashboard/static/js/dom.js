// Building DOM nodes from data. Every string becomes a text node or an
// attribute value, never HTML, so product names and server messages cannot
// inject markup (the Content-Security-Policy is the second line of defence).

const SVG_NS = "http://www.w3.org/2000/svg";
const ICONS = new URL("../icons.svg", import.meta.url).pathname;

/**
 * h("button", {type: "button", class: "btn", onclick: fn}, "Label", child)
 * Attributes set to null, undefined or false are left out; true gives an
 * empty attribute (hidden, disabled, required).
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.className = value;
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

/** Replaces `parent`'s children, skipping null, undefined and false as h() does. */
export function fill(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
  return parent;
}

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A decorative icon from the sprite (icons.svg); screen readers skip it. */
export function icon(name, className = "icon") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", className);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const use = document.createElementNS(SVG_NS, "use");
  use.setAttribute("href", `${ICONS}#${name}`);
  svg.append(use);
  return svg;
}

/** Text only screen readers read, e.g. the product name in "Add Laptop to cart". */
export function hidden(text) {
  return h("span", { class: "visually-hidden" }, text);
}

/** Says `message` through the page's polite live region. */
export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  // Emptying first makes a repeated message ("Laptop added") be read again.
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = message;
  }, 50);
}

/** Resolves after `ms`, or rejects with an AbortError when `signal` aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = window.setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        window.clearTimeout(timer);
        reject(new DOMException("aborted", "AbortError"));
      },
      { once: true },
    );
  });
}

export function isAbort(error) {
  return error?.name === "AbortError";
}

/** "2026-05-01T10:00:00.123456Z" -> a <time> in the reader's locale. */
export function timeElement(iso, options = { dateStyle: "medium", timeStyle: "medium" }) {
  const date = new Date(iso);
  const text = Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, options);
  return h("time", { datetime: iso }, text);
}
