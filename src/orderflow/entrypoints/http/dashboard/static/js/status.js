// How each order status reads and looks. Colour is never the only cue: the
// badge always carries the word.

export const TERMINAL = new Set(["completed", "failed", "cancelled"]);
// A completed order is confirmed, not shipped: it can still be cancelled.
export const CANCELLABLE = new Set(["pending", "processing", "completed"]);

export const STATUS = {
  pending: { label: "Pending", icon: "clock", message: "Order received. It is queued for processing." },
  processing: { label: "Processing", icon: "spinner", message: "Reserving your items…" },
  completed: { label: "Completed", icon: "check", message: "Confirmed: your items are reserved." },
  failed: { label: "Failed", icon: "alert", message: "This order could not be completed." },
  cancelled: { label: "Cancelled", icon: "x", message: "This order was cancelled." },
};

export function statusInfo(status) {
  return STATUS[status] ?? { label: status, icon: "box", message: "" };
}

export const PAYMENT_LABELS = {
  card: "Card",
  paypal: "PayPal",
  bank_transfer: "Bank transfer",
  cash_on_delivery: "Cash on delivery",
};
