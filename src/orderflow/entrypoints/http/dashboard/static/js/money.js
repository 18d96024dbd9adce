// Money stays exact: the API sends decimal strings ("999.00"), the cart adds
// integer cents, and formatting works on the digits. No float ever holds an
// amount. The API has no currency; the shop shows one for readability.

const CURRENCY_SYMBOL = "$";
const GROUPING = new Intl.NumberFormat("en-US");

/** "999.00" -> 99900; "19.9" -> 1990. Throws on anything else. */
export function toCents(amount) {
  const match = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(String(amount));
  if (!match) throw new Error(`not a money amount: ${amount}`);
  const cents = Number(match[2]) * 100 + Number((match[3] ?? "").padEnd(2, "0"));
  return match[1] ? -cents : cents;
}

/** 105880 -> "$1,058.80" */
export function formatCents(cents) {
  const sign = cents < 0 ? "-" : "";
  const absolute = Math.abs(cents);
  const whole = Math.floor(absolute / 100);
  const fraction = String(absolute % 100).padStart(2, "0");
  return `${sign}${CURRENCY_SYMBOL}${GROUPING.format(whole)}.${fraction}`;
}

/** "999.00" -> "$999.00" */
export function formatAmount(amount) {
  return formatCents(toCents(amount));
}
