// The style picker: a searchable list of checkboxes, the chosen styles first, in the order chosen.

export class StylePicker {
  constructor(list, search, count, onChange) {
    this.list = list;
    this.search = search;
    this.count = count;
    this.onChange = onChange;
    this.styles = [];
    this.chosen = [];
    search.addEventListener("input", () => this.render());
    document.getElementById("style-clear").addEventListener("click", () => {
      this.selected = [];
      this.onChange();
    });
    list.addEventListener("change", (event) => {
      const box = event.target;
      if (!(box instanceof HTMLInputElement)) return;
      this.chosen = box.checked ? [...this.chosen, box.value] : this.chosen.filter((n) => n !== box.value);
      this.render();
      this.onChange();
    });
  }

  setStyles(styles) {
    this.styles = styles;
    this.render();
  }

  get selected() {
    return [...this.chosen];
  }

  set selected(names) {
    this.chosen = [...new Set(names || [])];
    this.render();
  }

  item(name) {
    const style = this.styles.find((s) => s.name === name);
    const label = document.createElement("label");
    label.className = "style-item";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = name;
    box.checked = this.chosen.includes(name);
    label.classList.toggle("on", box.checked);
    const text = document.createElement("span");
    text.textContent = name;
    label.append(box, text);
    if (!style) {
      label.classList.add("missing");
      label.title = "not in this server's catalog";
    } else if (style.special && !style.available) {
      label.classList.add("missing");
      label.title = style.special === "prompt_expansion" ? "prompt expansion is not available on this server"
        : "no styles are installed to draw from";
    } else {
      label.title = style.special ? style.special.replace("_", " ") : style.prompt || "(negative prompt only)";
    }
    return label;
  }

  render() {
    const needle = this.search.value.trim().toLowerCase();
    const matches = (name) => !needle || name.toLowerCase().includes(needle);
    const rest = this.styles.map((s) => s.name).filter((n) => !this.chosen.includes(n));
    const names = [...this.chosen, ...rest].filter(matches);
    this.list.replaceChildren(...names.map((n) => this.item(n)));
    if (!names.length) {
      const none = document.createElement("p");
      none.className = "muted";
      none.textContent = "No style matches.";
      this.list.append(none);
    }
    this.count.textContent = String(this.chosen.length);
  }
}
