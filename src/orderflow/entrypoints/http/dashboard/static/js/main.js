// Boots the shop: header, cart drawer and the router.

import { cart } from "./cart.js";
import { setUpCartDrawer } from "./cart-drawer.js";
import { startRouter } from "./router.js";
import { checkoutView } from "./views/checkout.js";
import { notFoundView } from "./views/not-found.js";
import { orderView } from "./views/order.js";
import { shopView } from "./views/shop.js";
import { trackView } from "./views/track.js";

function showCartCount() {
  const count = cart.count();
  document.getElementById("cart-count").textContent = String(count);
  document
    .getElementById("cart-button")
    .setAttribute("aria-label", `Cart, ${count} ${count === 1 ? "item" : "items"}`);
}

function setUpSkipLink() {
  // The hash is the router's; jump to the content without touching it.
  document.getElementById("skip-link").addEventListener("click", (event) => {
    event.preventDefault();
    document.getElementById("main").focus();
  });
}

setUpSkipLink();
setUpCartDrawer();
showCartCount();
cart.addEventListener("change", showCartCount);

startRouter({
  outlet: document.getElementById("main"),
  routes: [
    [/^\/$/, shopView],
    [/^\/checkout$/, checkoutView],
    [/^\/track$/, trackView],
    [/^\/order\/([^/]+)$/, orderView],
  ],
  notFound: notFoundView,
});
