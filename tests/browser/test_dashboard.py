"""A shopper's paths through the dashboard in a real browser: search, cart,
checkout, the live order page; the server's field errors; a phone screen;
the keyboard alone; the demo exactly as `make serve` runs it."""

from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import Page, Request, expect

from tests.browser.conftest import PHONE, Shop

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
LIVE_BADGE = ".status-live .badge"
ORDER = {
    "customer": {"name": "Ada", "email": "ada@example.com", "address": "1 Street"},
    "items": [{"product_id": "laptop-14", "quantity": 1}],
    "payment_method": "card",
}


def searches_of(requests: list[Request]) -> list[str]:
    found = []
    for request in requests:
        match = re.search(r"/api/products\?search=([^&]*)", request.url)
        if match:
            found.append(match.group(1))
    return found


def statuses_until_final(page: Page, within_s: float) -> list[str]:
    """The order page's status badge, read every 20 ms until it is final."""
    seen: list[str] = []
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        badge = page.locator(LIVE_BADGE)
        text = badge.text_content() if badge.count() else None
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        if text in ("Completed", "Failed", "Cancelled"):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"the order page showed {seen} and nothing final in {within_s} s")


def test_search_cart_checkout_and_the_order_completes_live(
    page: Page, shop: Shop, artifacts: Path
) -> None:
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    page.goto(shop.base + "/")
    expect(page.locator("#search-status")).to_have_text("12 products")

    page.locator("#search").press_sequentially("lap", delay=40)
    expect(page.locator("#search-status")).to_have_text("5 products match “lap”.")
    names = page.locator(".card-title").all_text_contents()
    assert {"Laptop", "Laptop Pro 16", "Laptop Backpack"} <= set(names)
    assert "Wireless Mouse" not in names
    searched = searches_of(requests)
    # Debounced: one request for the whole word, not one per keystroke
    # (a stall on a busy machine may let one partial word through).
    assert searched[0] == "" and searched[-1] == "lap" and len(searched) <= 3, searched

    add_laptop = page.get_by_role("button", name="Add Laptop to cart")
    add_laptop.click()
    add_laptop.click()
    expect(page.locator("#cart-count")).to_have_text("2")
    expect(page.locator("#announcer")).to_contain_text("Laptop added to the cart")
    page.screenshot(path=artifacts / "dashboard-shop.png")

    page.get_by_role("button", name="Cart, 2 items").click()
    drawer = page.get_by_role("dialog", name="Your cart")
    expect(drawer).to_be_visible()
    quantity = drawer.get_by_label("Quantity of Laptop")
    expect(quantity).to_have_value("2")
    drawer.get_by_role("button", name="One more Laptop").click()
    expect(drawer.locator("#cart-total")).to_have_text("$2,997.00")
    quantity.fill("2")
    quantity.press("Tab")
    expect(drawer.locator("#cart-total")).to_have_text("$1,998.00")
    expect(page.locator("#cart-count")).to_have_text("2")
    drawer.get_by_role("button", name="Go to checkout").click()

    expect(page).to_have_url(re.compile(r"#/checkout$"))
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Delivery address").fill("12 Analytical Street\nLondon")
    page.get_by_label("PayPal").check()
    with page.expect_response(re.compile(r"/api/orders$")) as placed:
        page.get_by_role("button", name=re.compile(r"^Place order")).click()
    assert placed.value.status == 201
    key = placed.value.request.header_value("Idempotency-Key")
    assert key is not None and UUID.match(key), key

    expect(page).to_have_url(re.compile(r"#/order/[0-9a-f-]{36}$"))
    order_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#order-id")).to_have_text(order_id)
    seen = statuses_until_final(page, within_s=15)
    assert seen[0] in ("Pending", "Processing") and seen[-1] == "Completed", seen
    expect(page.locator("#order-total")).to_have_text("$1,998.00")
    expect(page.locator("#cart-count")).to_have_text("0")

    status, order = shop.api(f"/api/orders/{order_id}")
    assert status == 200
    assert order["status"] == "completed"
    assert order["total"] == "1998.00"
    assert order["payment_method"] == "paypal"
    assert order["customer"] == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "address": "12 Analytical Street, London",
    }
    timeline = page.get_by_role("heading", name="Timeline")
    if shop.api(f"/api/orders/{order_id}/events")[0] == 200:
        expect(timeline).to_be_visible()
        expect(page.locator(".timeline")).to_contain_text("Completed")
    else:
        expect(timeline).to_be_hidden()
    # Every status came through the event stream, none from polling, and the
    # page asks nothing more once the order is final.
    expect(page.locator(".status-live")).to_have_attribute("data-source", "stream")
    streams = [r for r in requests if r.url.endswith(f"/api/orders/{order_id}/stream")]
    assert len(streams) == 1
    assert (streams[0].header_value("Authorization") or "").startswith("Bearer oft_")
    asked = len(requests)
    page.wait_for_timeout(1200)
    assert [r.url for r in requests[asked:]] == []
    assert [r for r in requests if r.url.endswith(f"/api/orders/{order_id}")] == []

    page.screenshot(path=artifacts / "dashboard-order-completed.png", full_page=True)

    page.goto(shop.base + "/#/track")
    expect(page.get_by_role("link", name=re.compile(f"Order {order_id[:8]}"))).to_be_visible()
    # The order's access token went with it, and only in the Authorization header.
    reads = [r for r in requests if f"/api/orders/{order_id}" in r.url]
    assert reads and all(
        (r.header_value("Authorization") or "").startswith("Bearer oft_") for r in reads
    )
    assert page.context.cookies() == []  # no cookie carries any authority


def test_when_the_stream_fails_the_order_page_polls_to_the_end(page: Page, shop: Shop) -> None:
    status, placed = shop.post("/api/orders", ORDER)
    assert status == 201
    shop.remember(page, placed)
    page.route("**/stream", lambda route: route.abort())
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))

    page.goto(f"{shop.base}/#/order/{placed['id']}")

    seen = statuses_until_final(page, within_s=15)
    assert seen[-1] == "Completed", seen
    expect(page.locator(".status-live")).to_have_attribute("data-source", "poll")
    assert any(r.url.endswith(f"/api/orders/{placed['id']}/stream") for r in requests)
    assert any(r.url.endswith(f"/api/orders/{placed['id']}") for r in requests)


def test_an_order_looked_up_again_after_a_reload_shows_in_full(page: Page, shop: Shop) -> None:
    status, placed = shop.post("/api/orders", ORDER)
    assert status == 201, placed
    shop.remember(page, placed)

    page.reload()  # a later visit from the same browser
    page.get_by_role("link", name=re.compile(f"Order {placed['id'][:8]}")).click()

    expect(page).to_have_url(re.compile(f"#/order/{placed['id']}$"))
    expect(page.locator("#order-total")).to_have_text("$999.00")
    expect(page.locator(".facts")).to_contain_text("Card")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your order")


def test_an_order_placed_elsewhere_shows_only_its_status(page: Page, shop: Shop) -> None:
    status, placed = shop.post("/api/orders", ORDER)
    assert status == 201, placed

    page.goto(f"{shop.base}/#/order/{placed['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Order details are private")

    page.goto(f"{shop.base}/#/track")
    page.get_by_label("Order id").fill(placed["id"])
    page.get_by_label("Order id").press("Enter")
    found = page.locator(".lookup-result")
    expect(found).to_contain_text("1 \u00d7 Laptop")
    expect(page.locator("body")).not_to_contain_text("Ada")


def test_a_bad_email_shows_the_servers_error_at_the_field_and_places_nothing(
    page: Page, shop: Shop, artifacts: Path
) -> None:
    orders_before = shop.order_count()
    page.goto(shop.base + "/")
    page.get_by_role("button", name="Add Wireless Mouse to cart").click()
    expect(page.locator("#cart-count")).to_have_text("1")
    page.goto(shop.base + "/#/checkout")
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("ada@example")
    page.get_by_label("Delivery address").fill("12 Analytical Street")

    with page.expect_response(re.compile(r"/api/orders$")) as refused:
        page.get_by_role("button", name=re.compile(r"^Place order")).click()

    assert refused.value.status == 422
    problem = refused.value.json()
    server_message = next(e["message"] for e in problem["errors"] if e["field"] == "customer.email")
    email = page.get_by_label("Email")
    error = page.locator("#email-field #email-error")
    expect(error).to_be_visible()
    expect(error).to_have_text(server_message)
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description(re.compile(re.escape(server_message)))
    # Next to the field: right above the input, inside the email field's box.
    error_box, email_box = error.bounding_box(), email.bounding_box()
    assert error_box is not None and email_box is not None
    assert 0 <= email_box["y"] - (error_box["y"] + error_box["height"]) < 24
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_contain_text(f"Email: {server_message}")
    expect(page.get_by_label("Full name")).not_to_have_attribute("aria-invalid", "true")

    expect(page).to_have_url(re.compile(r"#/checkout$"))
    expect(page.locator("#cart-count")).to_have_text("1")
    assert shop.order_count() == orders_before
    page.screenshot(path=artifacts / "dashboard-checkout-email-error.png", full_page=True)


def test_the_shop_fits_a_phone_screen(phone: Page, shop: Shop, artifacts: Path) -> None:
    phone.goto(shop.base + "/")
    expect(phone.locator("#search-status")).to_have_text("12 products")

    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for locator in (phone.locator("#cart-button"), phone.locator("#search")):
        expect(locator).to_be_in_viewport()
    card = phone.locator(".card").first.bounding_box()
    assert card is not None and card["x"] >= 0 and card["x"] + card["width"] <= PHONE["width"]
    add = phone.get_by_role("button", name="Add Laptop to cart")
    add_box = add.bounding_box()
    assert add_box is not None and add_box["height"] >= 44  # a finger-sized target
    phone.screenshot(path=artifacts / "dashboard-phone.png")

    add.click()
    phone.get_by_role("button", name="Cart, 1 item").click()
    drawer = phone.get_by_role("dialog", name="Your cart")
    expect(drawer).to_be_visible()
    # The drawer slides in; measure where it comes to rest, not a frame of
    # the animation (a busy machine may still be mid-slide here).
    drawer.evaluate("el => Promise.all(el.getAnimations().map(a => a.finished))")
    drawer_box = drawer.bounding_box()
    assert drawer_box is not None and drawer_box["x"] >= 0
    assert drawer_box["x"] + drawer_box["width"] <= PHONE["width"] + 0.5
    phone.screenshot(path=artifacts / "dashboard-phone-cart.png")


def test_keyboard_alone_reaches_add_to_cart_in_a_logical_order(page: Page, shop: Shop) -> None:
    page.goto(shop.base + "/")
    expect(page.locator("#search-status")).to_have_text("12 products")

    stops: list[str] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.locator(":focus")
        stops.append(focused.get_attribute("aria-label") or focused.get_attribute("id") or "")
        stops[-1] = stops[-1] or " ".join((focused.text_content() or "").split())
        if stops[-1] == "Add Laptop to cart":
            break
    else:
        raise AssertionError(f"Tab never reached Add Laptop to cart: {stops}")

    assert stops[:6] == [
        "skip-link",
        "orderflow shop",
        "Shop",
        "Track order",
        "Cart, 0 items",
        "search",
    ], stops
    assert all(stop.startswith("Add ") for stop in stops[6:]), stops
    focused = page.locator(":focus")
    assert focused.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"

    page.keyboard.press("Enter")
    expect(page.locator("#cart-count")).to_have_text("1")
    expect(page.locator("#announcer")).to_contain_text("Laptop added to the cart")
    expect(focused).to_be_focused()  # adding does not move the reader

    for _ in range(len(stops) - 5):
        page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name="Cart, 1 item")).to_be_focused()
    page.keyboard.press("Enter")
    drawer = page.get_by_role("dialog", name="Your cart")
    expect(drawer).to_be_visible()
    expect(drawer.get_by_label("Quantity of Laptop")).to_have_value("1")
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    expect(page.get_by_role("button", name="Cart, 1 item")).to_be_focused()


def test_a_failed_order_shows_the_servers_reason(page: Page, shop: Shop) -> None:
    # More lamps than there are: intake accepts it, processing fails it.
    status, lamp = shop.api("/api/products/desk-lamp")
    assert status == 200
    status, placed = shop.post(
        "/api/orders",
        {
            "customer": {"name": "Ada", "email": "ada@example.com", "address": "1 Street"},
            "items": [{"product_id": "desk-lamp", "quantity": lamp["stock"] + 1}],
            "payment_method": "card",
        },
    )
    assert status == 201, placed
    shop.remember(page, placed)  # as if placed from this browser

    page.goto(f"{shop.base}/#/order/{placed['id']}")

    seen = statuses_until_final(page, within_s=15)
    assert seen[-1] == "Failed", seen
    _, failed = shop.api(f"/api/orders/{placed['id']}")
    assert failed["failure_reason"]
    expect(page.locator(".failure-reason")).to_have_text(f"Reason: {failed['failure_reason']}")
    expect(page.locator(".step.current.bad")).to_have_text("Failed")
    expect(page.get_by_role("button", name="Cancel order")).to_be_hidden()  # nothing to cancel


def test_an_unknown_order_id_says_so(page: Page, shop: Shop) -> None:
    page.goto(f"{shop.base}/#/order/0b6f3c1e-8a1d-4c56-9a8e-2f0d3c4b5a69")
    expect(page.get_by_role("heading", level=1)).to_have_text("Order not found")

    page.goto(f"{shop.base}/#/track")
    page.get_by_label("Order id").fill("not-an-id")
    page.get_by_label("Order id").press("Enter")
    error = page.locator("#order-lookup-error")
    expect(error).to_contain_text("must be a UUID")
    expect(page.get_by_label("Order id")).to_have_attribute("aria-invalid", "true")


UNNAMED_CONTROLS = """() => [...document.querySelectorAll('input, textarea, button, a[href]')]
    .filter((el) => el.getClientRects().length > 0)
    .filter((el) => {
        if (['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName)) {
            return el.labels.length === 0 && !el.getAttribute('aria-label');
        }
        return !(el.getAttribute('aria-label') || el.textContent.trim());
    })
    .map((el) => el.outerHTML.slice(0, 120))"""


def test_every_visible_control_on_every_page_has_a_name(page: Page, shop: Shop) -> None:
    page.goto(shop.base + "/")
    expect(page.locator("#search-status")).to_have_text("12 products")
    assert page.evaluate(UNNAMED_CONTROLS) == []
    page.get_by_role("button", name="Add Laptop to cart").click()

    page.get_by_role("button", name="Cart, 1 item").click()
    expect(page.get_by_role("dialog", name="Your cart")).to_be_visible()
    assert page.evaluate(UNNAMED_CONTROLS) == []
    page.keyboard.press("Escape")

    for hash_, heading in (("#/checkout", "Checkout"), ("#/track", "Track an order")):
        page.goto(f"{shop.base}/{hash_}")
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        assert page.evaluate(UNNAMED_CONTROLS) == [], hash_


def laptop_card_stock(page: Page) -> str:
    card = page.locator(".card", has=page.get_by_role("heading", name="Laptop", exact=True))
    return str(card.locator(".stock").text_content())


def buy_one_laptop(page: Page) -> str:
    """From the shop: one Laptop through the cart drawer and the checkout;
    the id of the order page it lands on."""
    page.get_by_role("button", name="Add Laptop to cart").click()
    page.get_by_role("button", name="Cart, 1 item").click()
    drawer = page.get_by_role("dialog", name="Your cart")
    drawer.get_by_role("button", name="Go to checkout").click()
    page.get_by_label("Full name").fill("Ada Lovelace")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Delivery address").fill("12 Analytical Street")
    with page.expect_response(re.compile(r"/api/orders$")) as placed:
        page.get_by_role("button", name=re.compile(r"^Place order")).click()
    assert placed.value.status == 201
    expect(page).to_have_url(re.compile(r"#/order/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def test_a_bought_order_arrives_live_is_cancelled_and_its_stock_comes_back(
    page: Page, shop: Shop
) -> None:
    _, laptop = shop.api("/api/products/laptop-14")
    stock = laptop["stock"]
    page.goto(shop.base + "/")
    expect(page.locator("#search-status")).to_have_text("12 products")
    assert re.search(rf"\b{stock}\b", laptop_card_stock(page))
    order_id = buy_one_laptop(page)
    assert statuses_until_final(page, within_s=15)[-1] == "Completed"
    # The statuses arrived live, through the order's event stream.
    expect(page.locator(".status-live")).to_have_attribute("data-source", "stream")
    assert shop.api("/api/products/laptop-14")[1]["stock"] == stock - 1

    with page.expect_response(re.compile(r"/cancel$")) as cancelled:
        page.get_by_role("button", name="Cancel order").click()

    assert cancelled.value.status == 200
    expect(page.locator(LIVE_BADGE)).to_have_text("Cancelled")
    expect(page.locator("#cancel-outcome")).to_have_text(
        "Your order is cancelled. 1 item is back in stock."
    )
    expect(page.get_by_role("button", name="Cancel order")).to_be_hidden()
    expect(page.locator(".stepper .step-label")).to_have_text(
        ["Received", "Processing", "Completed", "Cancelled"]
    )
    expect(page.locator(".timeline")).to_contain_text("Cancelled")
    assert shop.api(f"/api/orders/{order_id}")[1]["status"] == "cancelled"
    assert shop.api("/api/products/laptop-14")[1]["stock"] == stock
    page.goto(shop.base + "/")
    expect(page.locator("#search-status")).to_have_text("12 products")
    assert re.search(rf"\b{stock}\b", laptop_card_stock(page))


def test_the_demo_as_make_serve_runs_it_sells_and_finds_the_order_again(
    page: Page, demo_shop: Shop
) -> None:
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    page.goto(demo_shop.base + "/")
    expect(page.locator("#search-status")).to_have_text("12 products")
    order_id = buy_one_laptop(page)
    assert statuses_until_final(page, within_s=15)[-1] == "Completed"
    expect(page.locator(".status-live")).to_have_attribute("data-source", "stream")
    assert any(r.url.endswith(f"/api/orders/{order_id}/stream") for r in requests)
    # Stored where an unconfigured `orderflow serve` keeps its data.
    assert demo_shop.order_count() == 1
    assert demo_shop.api(f"/api/orders/{order_id}")[1]["status"] == "completed"

    def shows_the_whole_order() -> None:
        expect(page.get_by_role("heading", level=1)).to_have_text("Your order")
        expect(page.locator(LIVE_BADGE)).to_have_text("Completed")
        expect(page.locator(".facts")).to_contain_text("Ada Lovelace")
        expect(page.locator(".facts")).to_contain_text("12 Analytical Street")
        expect(page.locator(".facts")).to_contain_text("ada@example.com")
        expect(page.locator("#order-total")).to_have_text("$999.00")

    page.reload()
    shows_the_whole_order()

    # A later visit: the shop first, then the order from Track order's list.
    page.goto(demo_shop.base + "/")
    expect(page.locator("#search-status")).to_have_text("12 products")
    page.get_by_role("link", name="Track order").click()
    page.get_by_role("link", name=re.compile(f"Order {order_id[:8]}")).click()
    expect(page).to_have_url(re.compile(f"#/order/{order_id}$"))
    shows_the_whole_order()
