// Fooocus's Image Prompt tab: four slots, each an image with a type (ImagePrompt, FaceSwap, PyraCanny, CPDS),
// a stop and a weight. A slot's stop and weight start at its type's defaults (GET /v1/catalog's
// image_prompt_types) and follow the type while the user has not set them otherwise; a type the server cannot
// run is offered disabled, with what is missing and where it goes.

import { ApiError } from "./api.js";
import { ImageSlot } from "./image_slot.js";

export const SLOTS = 4; // Fooocus's four image prompts (the server takes at most as many)
const PREFERRED = "ImagePrompt"; // Fooocus's default type

export class ImagePrompts {
  // container: the slots' parent; template: one slot's markup ("[N]" in its data-field names is its index);
  // notes: the list saying why a type is unavailable; types: the catalog's image_prompt_types.
  constructor(container, template, notes, types, { onChange, onError }) {
    this.types = new Map(types.map((t) => [t.type, t]));
    const first = types.find((t) => t.available) || types[0];
    this.defaultType = this.types.get(PREFERRED)?.available ? PREFERRED : first?.type;
    this.onChange = onChange;
    this.sent = []; // the slot index of each prompt of the last request, in order
    this.slots = [];
    for (let i = 0; i < SLOTS; i++) {
      const node = template.content.firstElementChild.cloneNode(true);
      for (const el of [node, ...node.querySelectorAll("[data-field]")]) {
        el.dataset.field = el.dataset.field.replace("[N]", `[${i}]`);
      }
      node.dataset.slot = `ip${i}`;
      container.append(node);
      const slot = {
        image: new ImageSlot(node.querySelector(".image-slot"), { onChange: () => this.onChange(), onError }),
        type: node.querySelector(".ip-type"),
        stop: node.querySelector(".ip-stop"),
        weight: node.querySelector(".ip-weight"),
        edited: { stop: false, weight: false },
      };
      slot.type.setAttribute("aria-label", `image prompt ${i + 1}: type`);
      slot.stop.setAttribute("aria-label", `image prompt ${i + 1}: stop at`);
      slot.weight.setAttribute("aria-label", `image prompt ${i + 1}: weight`);
      slot.type.replaceChildren(...types.map((t) => typeOption(t)));
      if (this.defaultType) slot.type.value = this.defaultType;
      this.wire(slot);
      this.typeChanged(slot);
      this.slots.push(slot);
    }
    this.showNotes(notes, types);
  }

  wire(slot) {
    slot.type.addEventListener("change", () => this.typeChanged(slot));
    for (const key of ["stop", "weight"]) {
      // Set to something else than the type's default: kept when the type changes; set back to it: follows again.
      slot[key].addEventListener("input", () => {
        const value = slot[key].value;
        slot.edited[key] = value !== "" && Number(value) !== this.defaults(slot.type.value)[key];
      });
    }
  }

  defaults(type) {
    const t = this.types.get(type);
    return { stop: t?.default_stop, weight: t?.default_weight };
  }

  typeChanged(slot) {
    const defaults = this.defaults(slot.type.value);
    for (const key of ["stop", "weight"]) {
      if (!slot.edited[key] && defaults[key] !== undefined) slot[key].value = String(defaults[key]);
    }
  }

  // Why a type cannot run, in the catalog's words (each missing file and where it goes).
  showNotes(list, types) {
    const lines = [];
    for (const t of types) {
      if (!t.available) lines.push(`${t.type} is unavailable: ${reason(t)}`);
      else if (t.note) lines.push(`${t.type}: ${t.note}`);
    }
    list.replaceChildren(...lines.map((text) => Object.assign(document.createElement("li"), { textContent: text })));
    list.hidden = !lines.length;
  }

  get filled() {
    return this.slots.filter((s) => s.image.image || s.image.pending);
  }

  // Where a picture without a chosen slot goes (paste, the gallery's "Use as input image"): the first empty one.
  target() {
    return (this.slots.find((s) => !s.image.image && !s.image.pending) || this.slots[0]).image;
  }

  // The prompts of the slots holding an image, once uploaded. `required`: none is an error (the tab is shown).
  async request(required) {
    const prompts = [];
    const sent = [];
    for (const [i, slot] of this.slots.entries()) {
      if (!slot.image.image && !slot.image.pending) continue;
      const prompt = { image: await slot.image.ref(), type: slot.type.value };
      for (const key of ["stop", "weight"]) {
        if (slot[key].value !== "") prompt[key] = Number(slot[key].value); // empty: the type's default
      }
      prompts.push(prompt);
      sent.push(i);
    }
    if (!prompts.length && required) {
      throw new ApiError(0, "choose an image for an image prompt: drop, paste or pick a file, or use one from the Gallery",
        "image_prompts[0].image");
    }
    this.sent = sent;
    return prompts;
  }

  // A refusal of the last request names image_prompts[k] by its place in the list sent: the k-th filled slot.
  placeError(err) {
    const match = /^(\$\.?)?image_prompts\[(\d+)\]/.exec(err.field || "");
    const slot = match ? this.sent[Number(match[2])] : undefined;
    if (slot === undefined) return err;
    const field = `image_prompts[${slot}]${err.field.slice(match[0].length)}`;
    return new ApiError(err.status, err.message, field, err.suggestions);
  }
}

function reason(t) {
  const parts = t.missing.map((m) => m.hint);
  if (!t.kernel_runs) parts.unshift("the workers' kernel does not run it");
  return parts.join("; ") || "not available on this server";
}

function typeOption(t) {
  const option = new Option(t.available ? t.type : `${t.type} (unavailable)`, t.type);
  option.disabled = !t.available;
  if (!t.available) option.title = reason(t);
  return option;
}
