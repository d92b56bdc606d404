// The input-image panel, Fooocus's "Input Image": off until its checkbox is ticked; three tabs, Vary / Upscale
// and Inpaint / Outpaint, each with its own image, and Image Prompt's four slots. Its fields join the request
// only while it is on: the open tab's, and the image prompts holding an image whichever tab is open (one input
// image per job, image prompts mixed with it as Fooocus's mixing options do); its knobs only where they differ
// from what the preset gives, as the rest of the form.

import { ApiError, upload } from "./api.js";
import { ImagePrompts } from "./image_prompts.js";
import { ImageSlot, imageFile } from "./image_slot.js";
import { MaskPainter } from "./mask_painter.js";

// The methods a gallery picture offers as one click (submitted at once, as Midjourney's buttons that
// Fooocus named them after).
export const QUICK_METHODS = ["Vary (Subtle)", "Vary (Strong)", "Upscale (2x)"];

const VARY_KNOBS = ["overwrite_vary_strength"];
const UPSCALE_KNOBS = ["overwrite_upscale_strength", "upscale_model", "upscale_fallback"];
const INPAINT_KNOBS = ["inpaint_additional_prompt", "inpaint_strength", "inpaint_respective_field",
  "inpaint_erode_or_dilate", "invert_mask_checkbox", "inpaint_disable_initial_latent", "inpaint_engine"];
const IMAGE_PROMPT_KNOBS = ["controlnet_softness", "canny_low_threshold", "canny_high_threshold",
  "skipping_cn_preprocessor", "debugging_cn_preprocessor"];
const CUSTOM = "Upscale (Custom)";

const $ = (id) => document.getElementById(id);

export class InputPanel {
  // form: the <form> the panel sits in; effective(): the values the chosen preset gives; showError(ApiError).
  constructor(form, catalog, effective, showError) {
    this.form = form;
    this.effective = effective;
    this.showError = showError;
    this.root = $("input-panel");
    this.toggle = $("input-on");
    this.tab = "uov";
    this.slots = {};
    for (const holder of this.root.querySelectorAll(".image-slot[data-slot]")) {
      this.slots[holder.dataset.slot] = new ImageSlot(holder, {
        onChange: (slot) => this.imageChanged(slot),
        onError: showError,
      });
    }
    this.prompts = new ImagePrompts($("ip-slots"), $("ip-slot-template"), $("ip-notes"), catalog.image_prompt_types || [],
      { onChange: () => this.countPrompts(), onError: showError });
    this.painter = new MaskPainter($("mask-canvas"));
    this.maskSent = null; // {version, ref}: the upload of the mask as the painter held it then
    this.fillUpscaleModels(catalog.models.upscale || []);
    this.reset();
    this.wire();
  }

  get on() {
    return this.toggle.checked;
  }

  set on(value) {
    this.toggle.checked = value;
    this.root.hidden = !value;
  }

  get method() {
    return this.form.querySelector("[name=uov_method]:checked").value;
  }

  set method(value) {
    for (const radio of this.form.querySelectorAll("[name=uov_method]")) radio.checked = radio.value === value;
    this.methodChanged();
  }

  wire() {
    this.toggle.addEventListener("change", () => { this.on = this.toggle.checked; });
    for (const tab of this.root.querySelectorAll("[role=tab]")) tab.addEventListener("click", () => this.showTab(tab.dataset.tab));
    for (const radio of this.form.querySelectorAll("[name=uov_method]")) radio.addEventListener("change", () => this.methodChanged());
    const brush = $("brush-size");
    brush.addEventListener("input", () => {
      this.painter.brush = Number(brush.value);
      $("brush-size-out").value = brush.value;
    });
    this.painter.brush = Number(brush.value);
    $("mask-paint").addEventListener("click", () => this.setErasing(false));
    $("mask-erase").addEventListener("click", () => this.setErasing(true));
    $("mask-clear").addEventListener("click", () => this.painter.clear());
    $("mask-invert").addEventListener("click", () => this.painter.invert());
    const maskFile = this.form.elements.inpaint_mask_image;
    maskFile.addEventListener("change", async () => {
      const file = maskFile.files[0];
      maskFile.value = "";
      if (!file) return;
      try {
        if (!this.painter.width) throw new Error("choose the image to inpaint first, then its mask");
        await this.painter.load(file);
      } catch (err) {
        this.showError(new ApiError(0, err.message, "inpaint_mask_image"));
      }
    });
    // Ctrl-V of an image while the panel is open: into the tab shown (text pastes are left alone).
    document.addEventListener("paste", (e) => {
      if (!this.on || this.form.closest("[hidden]")) return;
      const file = imageFile(e.clipboardData);
      if (!file) return;
      e.preventDefault();
      this.slotShown().setFile(file);
    });
    // An error the form shows on one of the panel's fields: open the panel at its tab.
    this.root.addEventListener("reveal", (e) => this.reveal(e.target));
  }

  fillUpscaleModels(models) {
    const select = this.form.elements.upscale_model;
    // The server's default is the first installed model; with none, only the Lanczos fallback can upscale.
    const options = models.length ? models.map((m) => new Option(m.name, m.name)) : [new Option("none installed", "")];
    select.replaceChildren(...options);
    select.disabled = !models.length;
  }

  // The knobs as the preset gives them (the form's preset changed, or the page opened).
  reset() {
    const eff = this.effective();
    for (const name of [...VARY_KNOBS, ...UPSCALE_KNOBS, ...INPAINT_KNOBS, ...IMAGE_PROMPT_KNOBS]) {
      const el = this.form.elements[name];
      if (name === "upscale_model" || eff[name] === undefined || eff[name] === null) continue;
      if (el.type === "checkbox") el.checked = Boolean(eff[name]);
      else el.value = eff[name];
    }
    const outpaint = new Set(eff.outpaint_selections || []);
    for (const box of this.form.querySelectorAll("[name=outpaint_selections]")) box.checked = outpaint.has(box.value);
  }

  showTab(name) {
    this.tab = name;
    for (const tab of this.root.querySelectorAll("[role=tab]")) {
      const on = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", String(on));
      $(tab.getAttribute("aria-controls")).hidden = !on;
    }
  }

  // The image a paste or the gallery fills: the tab's, or on Image Prompt the first empty slot.
  slotShown() {
    return this.tab === "ip" ? this.prompts.target() : this.slots[this.tab];
  }

  // The Image Prompt tab's title says how many prompts go with the job (also while another tab is shown).
  countPrompts() {
    const count = this.prompts.filled.length;
    $("ip-count").textContent = String(count);
    $("ip-count").hidden = !count;
  }

  methodChanged() {
    $("upscale-value-field").hidden = this.method !== CUSTOM;
  }

  setErasing(erasing) {
    this.painter.erasing = erasing;
    $("mask-paint").setAttribute("aria-pressed", String(!erasing));
    $("mask-erase").setAttribute("aria-pressed", String(erasing));
  }

  imageChanged(slot) {
    if (slot !== this.slots.inpaint) return;
    // A new image to inpaint starts with an empty mask of its size (none while its size is not known yet).
    const width = slot.image?.width || 0;
    const height = slot.image?.height || 0;
    this.painter.reset(width, height);
    // The brush is in image pixels: a large image gets a larger largest brush (a quarter of its long side).
    const brush = $("brush-size");
    brush.max = String(Math.max(256, Math.round(Math.max(width, height) / 4)));
    this.painter.brush = Number(brush.value);
    $("brush-size-out").value = brush.value;
  }

  // A gallery picture into the panel: a quick method (the Vary / Upscale tab, that method), "inpaint", or
  // "use" (the tab shown).
  use(item, action) {
    this.on = true;
    if (QUICK_METHODS.includes(action)) {
      this.showTab("uov");
      this.method = action;
    } else if (action === "inpaint") {
      this.showTab("inpaint");
    }
    this.slotShown().setHistory(item);
  }

  reveal(target) {
    this.on = true;
    const panel = target.closest("[role=tabpanel]");
    if (panel) this.showTab(this.root.querySelector(`[role=tab][aria-controls="${panel.id}"]`).dataset.tab);
  }

  // The panel's part of the request ({} while it is off). Waits for uploads; an ApiError names the field.
  async request() {
    if (!this.on) return {};
    const eff = this.effective();
    const req = {};
    const prompts = await this.prompts.request(this.tab === "ip");
    if (prompts.length) {
      req.image_prompts = prompts;
      this.addKnobs(req, IMAGE_PROMPT_KNOBS, eff);
    }
    if (this.tab === "ip") return req;
    if (this.tab === "uov") {
      req.uov_method = this.method;
      req.uov_input_image = await this.slots.uov.ref();
      if (this.method === CUSTOM) req.upscale_value = number(this.form.elements.upscale_value.value);
      this.addKnobs(req, this.method.startsWith("Vary") ? VARY_KNOBS : UPSCALE_KNOBS, eff);
      return req;
    }
    req.inpaint_input_image = await this.slots.inpaint.ref();
    const mask = await this.maskRef();
    if (mask) req.inpaint_mask_image = mask;
    const outpaint = [...this.form.querySelectorAll("[name=outpaint_selections]:checked")].map((b) => b.value);
    if (JSON.stringify(outpaint) !== JSON.stringify(eff.outpaint_selections || [])) req.outpaint_selections = outpaint;
    this.addKnobs(req, INPAINT_KNOBS, eff);
    const a1111 = this.a1111Steps();
    if (a1111) req.inpaint_a1111 = a1111;
    return req;
  }

  // AUTOMATIC1111's inpainting steps when ticked, in its names; "only masked" samples the box at the image's size.
  a1111Steps() {
    if (!this.form.elements.inpaint_a1111.checked) return undefined;
    const el = (key) => this.form.elements[`inpaint_a1111.${key}`];
    const blur = number(el("mask_blur").value) ?? 4;
    return { mask_blur_x: blur, mask_blur_y: blur, inpainting_fill: Number(el("inpainting_fill").value),
      inpaint_full_res: el("inpaint_full_res").checked,
      inpaint_full_res_padding: number(el("inpaint_full_res_padding").value) ?? 0 };
  }

  // A refusal of the job: an image prompt's index as sent → its slot.
  placeError(err) {
    return this.prompts.placeError(err);
  }

  addKnobs(req, names, eff) {
    for (const name of names) {
      const el = this.form.elements[name];
      if (el.disabled) continue;
      const value = el.type === "checkbox" ? el.checked : el.type === "number" ? number(el.value) : el.value;
      if (value === undefined || value === "") continue;
      const preset = eff[name];
      const same = typeof value === "number" ? value === Number(preset) : value === preset;
      if (!same || preset === undefined || preset === null) req[name] = value;
    }
  }

  // The painted mask, uploaded once per state of the painter; nothing when nothing is painted (Outpaint alone).
  async maskRef() {
    const version = this.painter.version;
    if (this.maskSent?.version === version) return this.maskSent.ref;
    if (this.painter.isEmpty()) return undefined;
    let sent;
    try {
      sent = await upload(await this.painter.toBlob());
    } catch (err) {
      throw new ApiError(err.status, err.message, "inpaint_mask_image", err.suggestions);
    }
    this.maskSent = { version, ref: { upload_id: sent.upload_id } };
    return this.maskSent.ref;
  }
}

function number(text) {
  return text === "" || text === null || text === undefined ? undefined : Number(text);
}
