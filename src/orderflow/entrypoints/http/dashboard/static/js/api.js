import { accessTokenFor } from "./recent-orders.js";

// The JSON API as the shop uses it. Errors arrive as problem+json
// ({type, title, status, detail, instance, errors: [{field, message}]}) and
// become an ApiError that keeps the field errors for the forms.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `the server answered ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
    this.fieldErrors = Array.isArray(problem?.errors) ? problem.errors : [];
  }
}

export class NetworkError extends Error {
  constructor() {
    super("Could not reach the shop. Check your connection and try again.");
    this.name = "NetworkError";
  }
}

async function request(path, { method = "GET", body, headers = {}, signal } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    // Relative paths: the shop works wherever the app is mounted.
    response = await fetch(path, { ...init, cache: "no-store" });
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    throw new NetworkError();
  }
  const type = response.headers.get("Content-Type") ?? "";
  const data = type.includes("json") ? await response.json().catch(() => null) : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

const segment = encodeURIComponent;

export function searchProducts({ search = "", limit = 24, offset = 0 }, signal) {
  const query = new URLSearchParams({ search, limit: String(limit), offset: String(offset) });
  return request(`api/products?${query}`, { signal });
}

export function getProduct(id, signal) {
  return request(`api/products/${segment(id)}`, { signal });
}

export function placeOrder(body, idempotencyKey) {
  return request("api/orders", {
    method: "POST",
    body,
    headers: { "Idempotency-Key": idempotencyKey },
  });
}

/** The headers that prove this browser placed the order (none if it did not). */
function ownerHeaders(id) {
  const token = accessTokenFor(id);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export function getOrder(id, signal) {
  return request(`api/orders/${segment(id)}`, { signal, headers: ownerHeaders(id) });
}

/**
 * Follows an order through GET api/orders/<id>/stream: Server-Sent Events,
 * read with fetch because EventSource cannot send the order's Bearer token.
 * Awaits onOrder(order) for each `status` event; resolves with the last
 * order when the server ends the stream (null if it sent none), rejects if
 * the stream cannot be opened or breaks.
 */
export async function streamOrder(id, signal, onOrder) {
  const response = await fetch(`api/orders/${segment(id)}/stream`, {
    headers: { Accept: "text/event-stream", ...ownerHeaders(id) },
    signal,
    cache: "no-store",
  });
  if (!response.ok || !response.body) throw new ApiError(response.status, null);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let last = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return last;
    buffer += value.replaceAll("\r\n", "\n");
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const data = statusData(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (data !== null) {
        last = JSON.parse(data);
        await onOrder(last);
      }
    }
  }
}

/** The data of a `status` event frame; null for any other frame. */
function statusData(frame) {
  let event = "message";
  const data = [];
  for (const line of frame.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  return event === "status" && data.length ? data.join("\n") : null;
}

export function getOrderEvents(id, signal) {
  return request(`api/orders/${segment(id)}/events`, { signal, headers: ownerHeaders(id) });
}

export function cancelOrder(id) {
  return request(`api/orders/${segment(id)}/cancel`, {
    method: "POST",
    body: {},
    headers: ownerHeaders(id),
  });
}

/** The open status read (the seed's short form): id, product, quantity and
 * status of any order, for ids placed from another browser. */
export function getOrderStatus(id, signal) {
  return request(`order/${segment(id)}`, { signal });
}

export function placedHere(id) {
  return accessTokenFor(id) !== null;
}

/** A random UUID v4. crypto.randomUUID exists only in secure contexts, and
 * the shop may be opened over plain http from another machine. */
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
