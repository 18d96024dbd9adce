import { h } from "../dom.js";

export function notFoundView(outlet) {
  outlet.append(
    h("h1", { tabindex: "-1" }, "Page not found"),
    h(
      "div",
      { class: "panel empty-state" },
      h("p", {}, "There is no page at this address."),
      h("a", { class: "btn primary", href: "#/" }, "Go to the shop"),
    ),
  );
  return { title: "Page not found", nav: null };
}
