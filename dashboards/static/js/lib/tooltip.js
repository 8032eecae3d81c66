// One floating tooltip per page, filled with DOM nodes (never HTML text), kept inside the window.

let shared = null;

class Tooltip {
  constructor() {
    this.el = document.createElement("div");
    this.el.className = "tooltip hidden";
    this.el.setAttribute("role", "tooltip");
    document.body.append(this.el);
  }

  show(event, nodes) {
    this.el.replaceChildren(...nodes);
    this.el.classList.remove("hidden");
    this.move(event);
  }

  move(event) {
    const pad = 12;
    const { width, height } = this.el.getBoundingClientRect();
    let x = event.clientX + pad;
    let y = event.clientY + pad;
    if (x + width > window.innerWidth - 4) x = event.clientX - width - pad;
    if (y + height > window.innerHeight - 4) y = event.clientY - height - pad;
    this.el.style.left = `${Math.max(4, x)}px`;
    this.el.style.top = `${Math.max(4, y)}px`;
  }

  hide() {
    this.el.classList.add("hidden");
  }
}

export function getTooltip() {
  if (!shared) shared = new Tooltip();
  return shared;
}
