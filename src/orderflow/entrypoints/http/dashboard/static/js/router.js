// Hash routing (#/, #/checkout, #/track, #/order/<id>): every page has a
// link that works on reload and needs no server route. A view is a function
// (outlet, params, signal) that fills `outlet` and returns its title; the
// signal aborts its fetches and timers when the reader leaves the page.

let current = null;

export function startRouter({ outlet, routes, notFound }) {
  const render = (initial) => {
    const hash = window.location.hash || "#/";
    // "#main" and the like are in-page anchors, not pages.
    if (!hash.startsWith("#/")) return;
    const path = hash.slice(1).split("?")[0];
    current?.abort();
    current = new AbortController();
    let view = notFound;
    let params = [];
    for (const [pattern, candidate] of routes) {
      const match = pattern.exec(path);
      if (match) {
        view = candidate;
        params = match.slice(1).map((part) => decodeURIComponent(part));
        break;
      }
    }
    outlet.replaceChildren();
    const { title, nav } = view(outlet, params, current.signal);
    document.title = title ? `${title} · orderflow shop` : "orderflow shop";
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === nav) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (!initial) {
      // A new page: move the reader to its heading, as a page load would.
      window.scrollTo(0, 0);
      outlet.querySelector("h1")?.focus({ preventScroll: true });
    }
  };
  window.addEventListener("hashchange", () => render(false));
  render(true);
}

export function go(hash) {
  if (window.location.hash === hash) return;
  window.location.hash = hash;
}
