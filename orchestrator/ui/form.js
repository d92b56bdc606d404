// The generate form: filled from /v1/catalog, remembered in localStorage, turned into a v2 request.
//
// A request holds the preset's name and only the fields whose value differs from what that preset
// (over the server's default preset, over the built-in defaults) gives. The server applies the same
// layering, so the result is the same. The presets come fitted to the install (a checkpoint, LoRA or
// style that is not here already replaced or left out), so the form never shows one as chosen.

import { StylePicker } from "./style_picker.js";

const STORE = "remgo.form";
const LORA_SLOTS = 5;
const NONE = { refiner_model_name: "None", vae_name: "Default (model)" };
const SPECIAL = new Set(["preset", "image_seed", "seed_random", "hires_fix", "prompt_schedule"]);
// prompt_schedule is a JSON list of {until_step, prompt, negative_prompt}, sent as written when not empty.
// hires_fix is one object: its checkbox turns it on, its `hires_fix.<key>` controls fill it (hiresFix()), its
// `hires_fix.prompt_schedule` box (JSON, as prompt_schedule's) the second pass's schedule when not empty.
const HIRES_KEYS = ["scale", "resize_width", "resize_height", "upscaler", "steps", "denoise"];

export class GenerateForm {
  constructor(form, catalog, config) {
    this.form = form;
    this.catalog = catalog;
    this.presets = new Map(catalog.presets.map((p) => [p.name, p]));
    this.defaultPreset = this.presets.has(config.default_preset) ? config.default_preset : "";
    this.errorBox = document.getElementById("form-error");
    this.styles = new StylePicker(document.getElementById("style-list"), document.getElementById("style-search"),
      document.getElementById("style-count"), () => this.changed());
    this.loraRows = [];
    this.fill();
    this.restore();
    form.addEventListener("input", (e) => this.changed(e.target));
    form.addEventListener("change", (e) => this.changed(e.target));
    form.elements.preset.addEventListener("change", () => this.applyPreset(form.elements.preset.value));
    document.getElementById("reset-form").addEventListener("click", () => this.applyPreset(this.preset));
  }

  get preset() {
    return this.form.elements.preset.value;
  }

  // ----- choices ---------------------------------------------------------------------------------

  fill() {
    const c = this.catalog;
    const names = (list) => list.map((m) => m.name);
    options(this.form.elements.preset, c.presets.map((p) => [p.name, p.name]));
    options(this.form.elements.performance_selection, c.performance.map((p) => [p.name, `${p.name} · ${p.steps} steps`]));
    options(this.form.elements.aspect_ratios_selection, c.aspect_ratios.map((a) => [a.value, `${a.label}  (${a.ratio})`]));
    // A refiner-architecture checkpoint only refines: the server refuses it as the base model.
    const bases = c.models.checkpoints.filter((m) => m.architecture !== "sdxl_refiner");
    options(this.form.elements.base_model_name, names(bases).map((n) => [n, n]));
    options(this.form.elements.refiner_model_name, [["None", "None"], ...names(c.models.checkpoints).map((n) => [n, n])]);
    options(this.form.elements.vae_name, [["Default (model)", "Default (model)"], ...names(c.models.vae).map((n) => [n, n])]);
    options(this.form.elements.sampler_name, c.samplers.map((s) => [s, s]));
    options(this.form.elements.scheduler_name, c.schedulers.map((s) => [s, s]));
    options(this.form.elements.output_format, c.output_formats.map((s) => [s, s]));
    options(this.form.elements.metadata_scheme, c.metadata_schemes.map((s) => [s, s]));
    options(this.form.elements.refiner_swap_method, c.refiner_swap_methods.map((s) => [s, s]));
    this.form.elements.image_number.max = c.limits.image_number_max;
    this.styles.setStyles(c.styles);
    const slots = document.getElementById("lora-slots");
    const loras = [["None", "None"], ...names(c.models.loras).map((n) => [n, n])];
    for (let i = 0; i < LORA_SLOTS; i++) {
      const row = document.createElement("div");
      row.className = "lora";
      row.dataset.field = `loras[${i}]`;
      row.innerHTML = `<input type="checkbox" aria-label="use LoRA ${i + 1}"><select aria-label="LoRA ${i + 1}"></select>` +
        `<input type="number" min="-2" max="2" step="0.05" aria-label="LoRA ${i + 1} weight">`;
      const [enabled, select, weight] = row.children;
      options(select, loras);
      slots.append(row);
      this.loraRows.push({ enabled, select, weight });
    }
  }

  // What applies with no field set: the chosen preset over the default preset over built-in defaults.
  effective(presetName) {
    const layers = [this.catalog.defaults, this.presets.get(this.defaultPreset)?.values,
      this.presets.get(presetName)?.values];
    return Object.assign({}, ...layers.filter(Boolean).map((v) => clean(v)));
  }

  // ----- values ----------------------------------------------------------------------------------

  // The controls the form itself turns into fields; the input-image panel builds its own part (input_panel.js).
  fields() {
    return [...this.form.elements].filter((el) => el.name && !SPECIAL.has(el.name) && !el.name.includes(".") &&
      !el.closest("[data-input-panel]"));
  }

  hiresFix() {
    if (!this.form.elements.hires_fix.checked) return undefined;
    const value = (key) => read(this.form.elements[`hires_fix.${key}`]);
    const fix = clean(Object.fromEntries(HIRES_KEYS.map((key) => [key, value(key)])));
    const schedule = jsonList(this.form.elements["hires_fix.prompt_schedule"], "hires_fix.prompt_schedule");
    return schedule ? { ...fix, prompt_schedule: schedule } : fix;
  }

  get loras() {
    return this.loraRows.map((r) => ({ name: r.select.value, weight: num(r.weight.value) ?? 1, enabled: r.enabled.checked }))
      .filter((l) => l.name !== "None");
  }

  set loras(list) {
    const items = loraList(list);
    this.loraRows.forEach((row, i) => {
      const item = items[i];
      ensure(row.select, item ? item.name : "None");
      row.select.value = item ? item.name : "None";
      row.weight.value = item ? item.weight : 1;
      row.enabled.checked = item ? item.enabled : true;
    });
  }

  set(name, value) {
    if (name === "style_selections") this.styles.selected = value;
    else if (name === "loras") this.loras = value;
    else if (name === "image_seed") this.form.elements.image_seed.value = value == null ? "" : String(value);
    else if (this.form.elements[name]) write(this.form.elements[name], value);
  }

  applyPreset(name, keepPrompts = true) {
    const values = this.effective(name);
    this.form.elements.preset.value = name;
    for (const el of this.fields()) {
      if (keepPrompts && (el.name === "prompt" || el.name === "negative_prompt") && !(el.name in (this.presets.get(name)?.values || {}))) continue;
      write(el, values[el.name]);
    }
    this.styles.selected = values.style_selections || [];
    this.loras = values.loras || [];
    this.changed();
  }

  request() {
    const eff = this.effective(this.preset);
    const req = { prompt: this.form.elements.prompt.value };
    if (this.preset) req.preset = this.preset;
    for (const el of this.fields()) {
      if (el.name === "prompt") continue;
      // a variation seed may pass 2^53, as an image seed may: read like one (a BigInt when it does)
      const value = el.name === "variation_seed" ? seedValue(el.value) : read(el);
      if (value !== undefined && !same(el.name, value, eff[el.name])) req[el.name] = value;
    }
    const hires = this.hiresFix();
    if (hires) req.hires_fix = hires;
    const schedule = jsonList(this.form.elements.prompt_schedule, "prompt_schedule");
    if (schedule) req.prompt_schedule = schedule;
    if (this.form.elements.seed_random.checked) req.seed_random = true;
    else {
      req.seed_random = false;
      const seed = seedValue(this.form.elements.image_seed.value);
      if (seed !== undefined) req.image_seed = seed;
    }
    const styles = this.styles.selected;
    if (JSON.stringify(styles) !== JSON.stringify(eff.style_selections || [])) req.style_selections = styles;
    const loras = this.loras;
    if (JSON.stringify(loras) !== JSON.stringify(loraList(eff.loras || []))) req.loras = loras;
    return req;
  }

  // ----- memory ----------------------------------------------------------------------------------

  changed(target) {
    if (target) this.clearError(target);
    this.form.elements.image_seed.disabled = this.form.elements.seed_random.checked;
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => this.save(), 150);
  }

  save() {
    const fields = {};
    for (const el of this.fields()) fields[el.name] = read(el);
    localStorage.setItem(STORE, JSON.stringify({
      preset: this.preset, fields, styles: this.styles.selected, loras: this.loras,
      seed_random: this.form.elements.seed_random.checked, image_seed: this.form.elements.image_seed.value,
    }));
  }

  restore() {
    let saved = null;
    try {
      saved = JSON.parse(localStorage.getItem(STORE) || "null");
    } catch { /* an unreadable memory is no memory */ }
    const preset = saved && this.presets.has(saved.preset) ? saved.preset : this.defaultPreset;
    this.applyPreset(preset, false);
    this.form.elements.seed_random.checked = true;
    if (saved) {
      for (const el of this.fields()) if (el.name in saved.fields) write(el, saved.fields[el.name]);
      this.styles.selected = saved.styles;
      this.loras = saved.loras;
      this.form.elements.seed_random.checked = saved.seed_random !== false;
      this.form.elements.image_seed.value = saved.image_seed ?? "";
    }
    this.changed();
  }

  // "Use these settings" of a history image: its parameters into the form.
  useImage(item) {
    const p = item.params || {};
    const pick = (...values) => values.find((v) => v !== undefined && v !== null);
    const set = (name, value) => { if (value !== undefined && value !== null) this.set(name, value); };
    set("prompt", pick(p.prompt, item.prompt));
    set("negative_prompt", pick(p.negative_prompt, item.negative_prompt));
    set("style_selections", pick(p.styles, item.styles));
    const performance = pick(p.performance, item.performance);
    set("performance_selection", performance);
    const width = pick(p.width, item.width);
    const height = pick(p.height, item.height);
    if (width && height) {
      const aspect = `${width}*${height}`;
      const known = this.catalog.aspect_ratios.some((a) => a.value === aspect);
      if (known) set("aspect_ratios_selection", aspect);
      this.set("overwrite_width", known ? "" : width);
      this.set("overwrite_height", known ? "" : height);
    }
    set("guidance_scale", pick(p.guidance_scale, item.guidance_scale));
    set("image_sharpness", p.sharpness);
    if (p.adm_guidance) ["adm_scaler_positive", "adm_scaler_negative", "adm_scaler_end"].forEach((f, i) => set(f, p.adm_guidance[i]));
    set("base_model_name", pick(p.base_model, item.model));
    this.set("refiner_model_name", pick(p.refiner_model, item.refiner, "None"));
    set("refiner_switch", p.refiner_switch);
    set("refiner_swap_method", p.refiner_swap_method);
    this.set("vae_name", pick(p.vae, "Default (model)"));
    set("sampler_name", pick(p.sampler, item.sampler));
    set("scheduler_name", pick(p.scheduler, item.scheduler));
    set("unet_timestep", p.unet_timestep);
    set("clip_skip", p.clip_skip);
    set("adaptive_cfg", p.adaptive_cfg);
    set("loras", pick(p.loras, item.loras));
    set("metadata_scheme", pick(p.metadata_scheme, item.scheme));
    this.set("freeu_enabled", Boolean(p.freeu));
    if (p.freeu) ["freeu_b1", "freeu_b2", "freeu_s1", "freeu_s2"].forEach((f, i) => set(f, p.freeu[i]));
    const steps = pick(p.steps, item.steps);
    const table = this.catalog.performance.find((row) => row.name === performance);
    this.set("overwrite_step", steps && (!table || table.steps !== steps) ? steps : "");
    const seed = pick(p.seed, item.seed);
    if (seed !== undefined) {
      this.form.elements.seed_random.checked = false;
      this.set("image_seed", seed);
    }
    this.changed();
  }

  // ----- errors ----------------------------------------------------------------------------------

  clearError(target) {
    const holder = target.closest?.("[data-field]");
    if (holder) {
      holder.classList.remove("invalid");
      holder.querySelectorAll(".field-error").forEach((e) => e.remove());
    }
  }

  clearErrors() {
    this.form.querySelectorAll(".invalid").forEach((e) => e.classList.remove("invalid"));
    this.form.querySelectorAll(".field-error").forEach((e) => e.remove());
    this.errorBox.hidden = true;
  }

  // An API error next to the field it names ($.loras[0].weight → the first LoRA slot), else above the queue.
  showError(err) {
    this.clearErrors();
    const path = (err.field || "").replace(/^\$\.?/, "");
    const text = err.message + (err.suggestions?.length ? ` — did you mean ${err.suggestions.join(", ")}?` : "");
    const holder = findField(this.form, path);
    if (!holder) {
      this.errorBox.textContent = err.field ? `${err.field}: ${text}` : text;
      this.errorBox.hidden = false;
      return;
    }
    const note = document.createElement("p");
    note.className = "field-error";
    note.setAttribute("role", "alert");
    note.textContent = text;
    holder.classList.add("invalid");
    holder.append(note);
    const details = holder.closest("details");
    if (details) details.open = true;
    holder.dispatchEvent(new CustomEvent("reveal", { bubbles: true })); // a closed panel or tab opens to it
    holder.scrollIntoView({ block: "center", behavior: "smooth" });
  }
}

function findField(form, path) {
  for (let p = path; p; ) {
    const found = form.querySelector(`[data-field="${CSS.escape(p)}"]`);
    if (found) return found;
    const cut = p.search(/(\[\d+\]|\.[^.[\]]+)$/);
    if (cut <= 0) return null;
    p = p.slice(0, cut);
  }
  return null;
}

// ----- helpers ------------------------------------------------------------------------------------

function options(select, pairs) {
  select.replaceChildren(...pairs.map(([value, label]) => new Option(label, value)));
}

function ensure(select, value) {
  if (value === undefined || value === null || value === "") return;
  if (![...select.options].some((o) => o.value === String(value))) select.append(new Option(`${value} (not found)`, value));
}

function clean(values) {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== null && v !== undefined));
}

function num(text) {
  return text === "" || text === null || text === undefined ? undefined : Number(text);
}

// A seed as typed: past 2^53 a BigInt, so every digit reaches the server (api.js writes it as an integer).
function seedValue(text) {
  const t = String(text ?? "").trim();
  if (/^-?\d+$/.test(t) && !Number.isSafeInteger(Number(t))) return BigInt(t);
  return num(t);
}

// A JSON box's value, undefined when empty; text that is not JSON is an error naming the field.
function jsonList(el, field) {
  const text = el.value.trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${field}: not JSON (${err.message})`);
  }
}

function read(el) {
  if (el.type === "checkbox") return el.checked;
  if (el.type === "number") return num(el.value);
  if (el.tagName === "SELECT") return el.value === "" ? undefined : el.value;
  return el.value;
}

function write(el, value) {
  if (el.type === "checkbox") el.checked = Boolean(value);
  else {
    if (el.tagName === "SELECT") {
      ensure(el, value);
      if (value === undefined || value === null) {
        el.selectedIndex = el.options.length ? 0 : -1;
        return;
      }
    }
    el.value = value ?? "";
  }
}

function same(name, value, preset) {
  const none = (v) => (NONE[name] && (v === undefined || v === NONE[name] || v === "None" || v === "") ? undefined : v);
  const a = none(value);
  const b = none(preset);
  if (a === undefined || b === undefined) return a === b || (a === "" && b === undefined);
  return typeof a === "number" ? a === Number(b) : a === b;
}

// A preset's LoRAs ({name, weight, enabled} or [enabled, name, weight]) as the form's slots hold them.
function loraList(list) {
  return (list || []).map((l) => (Array.isArray(l) ? { name: l[1], weight: l[2], enabled: l[0] } : { enabled: true, weight: 1, ...l }))
    .map((l) => ({ name: l.name, weight: Number(l.weight), enabled: Boolean(l.enabled) }))
    .filter((l) => l.name && l.name !== "None");
}
