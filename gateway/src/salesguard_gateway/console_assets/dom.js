// Building DOM nodes from parts, never from markup strings: text is always text.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function s(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

// A <select> with an "any" option, labelled.
export function select(id, labelText, options, value, anyText) {
  const control = h(
    "select",
    { id, name: id },
    anyText === undefined ? null : h("option", { value: "" }, anyText),
    options.map(([optionValue, text]) =>
      h("option", { value: optionValue, selected: optionValue === value }, text),
    ),
  );
  return [h("label", { for: id }, labelText), control];
}

export function announce(text) {
  const live = document.getElementById("live");
  live.textContent = "";
  // A fresh text node, so screen readers announce a repeat too.
  setTimeout(() => {
    live.textContent = text;
  }, 50);
}
