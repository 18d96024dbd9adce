// A picture for a product without one: an icon guessed from its name, on a
// tint picked from its id, so a card is recognisable at a glance.

const KEYWORDS = [
  ["keyboard", "keyboard"],
  ["mouse", "mouse"],
  ["monitor", "monitor"],
  ["display", "monitor"],
  ["headphone", "headphones"],
  ["headset", "headphones"],
  ["webcam", "camera"],
  ["camera", "camera"],
  ["backpack", "bag"],
  ["bag", "bag"],
  ["ssd", "drive"],
  ["drive", "drive"],
  ["phone", "phone"],
  ["tablet", "phone"],
  ["lamp", "lamp"],
  ["light", "lamp"],
  ["hub", "hub"],
  ["charger", "hub"],
  ["cable", "hub"],
  ["laptop", "laptop"],
  ["notebook", "laptop"],
];
const TINTS = 6;

export function productIcon(product) {
  // The name decides first: "Laptop Backpack" is a bag, not a laptop.
  const words = product.name.toLowerCase();
  for (const [keyword, name] of KEYWORDS) {
    if (words.includes(keyword)) return name;
  }
  return "box";
}

export function productTint(product) {
  let hash = 0;
  for (const char of product.id) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return `tint-${hash % TINTS}`;
}
