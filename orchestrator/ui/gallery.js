// The gallery: history newest first, loaded page by page as it scrolls, with full-text search, model
// and date filters, multi-select (ZIP export, delete) and a viewer (metadata, star, delete, reuse). Each
// picture offers Vary (Subtle), Vary (Strong), Upscale (2x) and Inpaint, on its tile and in the viewer.

import { api, fileUrl, get, postForFile, post, query, thumbUrl } from "./api.js";

const PAGE = 40;
const $ = (id) => document.getElementById(id);

export class Gallery {
  // onUse(item): its settings into the form; onInput(item, action): the picture as the input image, for
  // one of QUICK_METHODS, "inpaint" or "use".
  constructor({ onUse, onInput }) {
    this.onUse = onUse;
    this.onInput = onInput;
    this.items = [];
    this.cursor = null;
    this.done = false;
    this.loading = null;
    this.generation = 0; // a new search drops the answers of older ones
    this.selected = new Set();
    this.stale = true;
    this.grid = $("g-grid");
    this.viewer = $("viewer");
    for (const id of ["g-model", "g-since", "g-until", "g-starred"]) $(id).addEventListener("change", () => this.reset());
    $("g-search").addEventListener("input", () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => this.reset(), 250);
    });
    this.observer = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && this.more(),
      { rootMargin: "200px" });
    this.observer.observe($("g-more"));
    this.grid.addEventListener("click", (e) => this.onGridClick(e));
    $("g-clear").addEventListener("click", () => this.select([]));
    $("g-export").addEventListener("click", () => this.exportZip());
    $("g-delete").addEventListener("click", () => this.remove([...this.selected]));
    $("v-close").addEventListener("click", () => this.viewer.close());
    $("v-prev").addEventListener("click", () => this.step(-1));
    $("v-next").addEventListener("click", () => this.step(1));
    $("v-star").addEventListener("click", () => this.toggleStar());
    $("v-delete").addEventListener("click", () => this.remove([this.current.id]));
    $("v-use").addEventListener("click", () => {
      this.viewer.close();
      this.onUse(this.current);
    });
    const input = (action) => {
      this.viewer.close();
      this.onInput(this.current, action);
    };
    $("v-input").addEventListener("click", () => input("use"));
    for (const button of this.viewer.querySelectorAll(".image-actions [data-action]")) {
      button.addEventListener("click", () => input(button.dataset.action));
    }
    this.viewer.addEventListener("keydown", (e) => {
      if (e.key === "ArrowLeft") this.step(-1);
      if (e.key === "ArrowRight") this.step(1);
    });
    this.viewer.addEventListener("click", (e) => e.target === this.viewer && this.viewer.close());
  }

  setModels(names) {
    const select = $("g-model");
    for (const n of names) select.append(new Option(n, n));
  }

  filters() {
    return { q: $("g-search").value.trim(), model: $("g-model").value, since: $("g-since").value,
      until: $("g-until").value, starred: $("g-starred").checked ? "true" : "" };
  }

  // Shown again: reload when new images were made meanwhile.
  shown() {
    if (this.stale) this.reset();
  }

  reset() {
    this.stale = false;
    this.generation++;
    this.items = [];
    this.cursor = null;
    this.done = false;
    this.loading = null;
    this.grid.replaceChildren();
    this.select([]);
    this.more();
  }

  async more() {
    if (this.done || this.loading) return this.loading;
    const generation = this.generation;
    this.loading = (async () => {
      try {
        const page = await get(`/v1/history${query({ ...this.filters(), limit: PAGE, cursor: this.cursor })}`);
        if (generation !== this.generation) return;
        $("g-error").hidden = true;
        this.cursor = page.next_cursor;
        this.done = !page.next_cursor;
        this.items.push(...page.items);
        this.grid.append(...page.items.map((item) => this.tile(item)));
      } catch (err) {
        if (generation !== this.generation) return;
        this.done = true;
        $("g-error").textContent = err.field ? `${err.field}: ${err.message}` : err.message;
        $("g-error").hidden = false;
      } finally {
        if (generation === this.generation) {
          this.loading = null;
          $("g-empty").hidden = this.items.length > 0;
        }
      }
    })();
    await this.loading;
    // A short first page may not fill the screen: the sentinel stays visible and fires no new event.
    if (!this.done && generation === this.generation && $("g-more").getBoundingClientRect().top < innerHeight + 200) {
      return this.more();
    }
  }

  tile(item) {
    const tile = document.createElement("figure");
    tile.className = "tile";
    tile.dataset.id = item.id;
    tile.classList.toggle("starred", item.starred);
    tile.innerHTML = `<button type="button" class="open"><img loading="lazy" alt=""></button>` +
      `<label class="pick"><input type="checkbox" aria-label="select"></label><span class="star" aria-hidden="true">★</span>` +
      `<div class="tile-actions" role="group" aria-label="make from this image">` +
      `<button type="button" data-action="Vary (Subtle)" aria-label="Vary (Subtle)" title="Vary (Subtle)">Subtle</button>` +
      `<button type="button" data-action="Vary (Strong)" aria-label="Vary (Strong)" title="Vary (Strong)">Strong</button>` +
      `<button type="button" data-action="Upscale (2x)" aria-label="Upscale (2x)" title="Upscale (2x)">2×</button>` +
      `<button type="button" data-action="inpaint" aria-label="Inpaint" title="Inpaint / Outpaint">Inpaint</button></div>` +
      `<figcaption></figcaption>`;
    tile.querySelector("img").src = thumbUrl(item.id);
    tile.querySelector("img").alt = item.prompt || "image";
    tile.querySelector("figcaption").textContent = item.prompt || "";
    tile.querySelector("input").checked = this.selected.has(item.id);
    return tile;
  }

  onGridClick(e) {
    const tile = e.target.closest(".tile");
    if (!tile) return;
    const action = e.target.closest("[data-action]");
    if (action) {
      const item = this.items.find((i) => i.id === tile.dataset.id);
      if (item) this.onInput(item, action.dataset.action);
      return;
    }
    if (e.target.closest(".pick")) {
      if (e.target.matches("input")) this.toggle(tile.dataset.id, e.target.checked);
      return;
    }
    if (this.selected.size) this.toggle(tile.dataset.id, !this.selected.has(tile.dataset.id));
    else this.open(tile.dataset.id);
  }

  toggle(id, on) {
    const next = new Set(this.selected);
    if (on) next.add(id);
    else next.delete(id);
    this.select([...next]);
  }

  select(ids) {
    this.selected = new Set(ids);
    for (const tile of this.grid.children) {
      const on = this.selected.has(tile.dataset.id);
      tile.classList.toggle("selected", on);
      tile.querySelector("input").checked = on;
    }
    $("g-selection").hidden = this.selected.size === 0;
    $("g-selected-count").textContent = `${this.selected.size} selected`;
    this.grid.classList.toggle("selecting", this.selected.size > 0);
  }

  async exportZip() {
    try {
      const { blob, name } = await postForFile("/v1/history/export", { ids: [...this.selected] });
      const link = Object.assign(document.createElement("a"), { href: URL.createObjectURL(blob), download: name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (err) {
      $("g-error").textContent = err.message;
      $("g-error").hidden = false;
    }
  }

  async remove(ids) {
    if (!ids.length) return;
    const what = ids.length === 1 ? "this image" : `these ${ids.length} images`;
    if (!confirm(`Delete ${what}? The files are removed from the server.`)) return;
    try {
      await post("/v1/history/delete", { ids });
    } catch (err) {
      $("g-error").textContent = err.message;
      $("g-error").hidden = false;
      return;
    }
    if (this.viewer.open) this.viewer.close();
    const gone = new Set(ids);
    this.items = this.items.filter((i) => !gone.has(i.id));
    for (const tile of [...this.grid.children]) if (gone.has(tile.dataset.id)) tile.remove();
    this.select([...this.selected].filter((id) => !gone.has(id)));
    $("g-empty").hidden = this.items.length > 0;
  }

  // ----- the viewer --------------------------------------------------------------------------------

  async open(id) {
    const item = this.items.find((i) => i.id === String(id)) || (await get(`/v1/history/${encodeURIComponent(id)}`));
    this.current = item;
    $("v-image").src = fileUrl(item.id);
    $("v-image").alt = item.prompt || "image";
    $("v-download").href = fileUrl(item.id);
    $("v-download").download = item.path.split("/").pop();
    this.drawStar();
    $("v-meta").replaceChildren(...metadata(item).flatMap(([k, v]) => [
      Object.assign(document.createElement("dt"), { textContent: k }),
      Object.assign(document.createElement("dd"), { textContent: v }),
    ]));
    const index = this.items.findIndex((i) => i.id === item.id);
    $("v-prev").hidden = index <= 0;
    $("v-next").hidden = index < 0 || index >= this.items.length - 1;
    if (!this.viewer.open) this.viewer.showModal();
  }

  step(delta) {
    const index = this.items.findIndex((i) => i.id === this.current?.id);
    const next = this.items[index + delta];
    if (index >= 0 && next) this.open(next.id);
  }

  drawStar() {
    const on = Boolean(this.current?.starred);
    $("v-star").textContent = on ? "★ Starred" : "☆ Star";
    $("v-star").setAttribute("aria-pressed", String(on));
  }

  async toggleStar() {
    const item = await api("PATCH", `/v1/history/${encodeURIComponent(this.current.id)}`, { starred: !this.current.starred });
    this.current = item;
    this.items = this.items.map((i) => (i.id === item.id ? item : i));
    this.grid.querySelector(`[data-id="${CSS.escape(item.id)}"]`)?.classList.toggle("starred", item.starred);
    this.drawStar();
  }
}

function metadata(item) {
  const p = item.params || {};
  const loras = (p.loras || item.loras || []).map((l) => `${l.name} × ${l.weight}`).join(", ");
  const rows = [
    ["Prompt", p.prompt ?? item.prompt],
    ["Negative", p.negative_prompt ?? item.negative_prompt],
    ["Styles", (p.styles || item.styles || []).join(", ")],
    ["Model", p.base_model ?? item.model],
    ["Refiner", p.refiner_model ? `${p.refiner_model} at ${p.refiner_switch}` : item.refiner],
    ["LoRAs", loras],
    ["Performance", p.performance ?? item.performance],
    ["Steps", p.steps ?? item.steps],
    ["Sampler", [p.sampler ?? item.sampler, p.scheduler ?? item.scheduler].filter(Boolean).join(" · ")],
    ["Guidance", p.guidance_scale ?? item.guidance_scale],
    ["Sharpness", p.sharpness],
    ["Seed", p.seed ?? item.seed],
    ["Size", item.width && item.height ? `${item.width} × ${item.height}` : ""],
    ["Created", new Date(item.created).toLocaleString()],
    ["File", item.path],
  ];
  return rows.filter(([, v]) => v !== undefined && v !== null && v !== "").map(([k, v]) => [k, String(v)]);
}
