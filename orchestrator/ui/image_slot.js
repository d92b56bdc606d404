// One input image of the panel (a tab's): chosen by file, drop or paste — sent to POST /v1/uploads at once,
// so a refused file is said before any job — or taken from the gallery by its history id. A request names
// it as {"upload_id"} or {"history_id"}.

import { ApiError, fileUrl, upload } from "./api.js";

export class ImageSlot {
  // holder: the slot's [data-field] element (its field is the request field the image goes to).
  constructor(holder, { onChange, onError }) {
    this.holder = holder;
    this.field = holder.dataset.field;
    this.onChange = onChange;
    this.onError = onError;
    this.picked = holder.querySelector(".picked");
    this.img = this.picked.matches("img") ? this.picked : this.picked.querySelector("img");
    this.empty = holder.querySelector(".empty");
    this.status = holder.querySelector(".slot-status");
    this.clearButton = holder.querySelector(".slot-clear");
    this.input = holder.querySelector("input[type=file]");
    this.image = null; // {ref, width, height, name}
    this.pending = null; // the upload in flight: resolves to the image, rejects with an ApiError
    this.objectUrl = null;
    // Its shape, for a layout that scales the picture to fit (the mask painter's).
    this.img.addEventListener("load", () => {
      this.picked.style.setProperty("--ratio", String(this.img.naturalWidth / this.img.naturalHeight));
    });
    this.input.addEventListener("change", () => {
      if (this.input.files.length) this.setFile(this.input.files[0]);
      this.input.value = ""; // the same file chosen again is a change again
    });
    const drop = holder.querySelector(".drop");
    drop.addEventListener("dragover", (e) => {
      if (![...e.dataTransfer.types].includes("Files")) return;
      e.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      drop.classList.remove("over");
      const file = imageFile(e.dataTransfer);
      if (!file) return;
      e.preventDefault();
      this.setFile(file);
    });
    this.clearButton.addEventListener("click", () => this.clear());
  }

  // A file of the user's: shown at once, uploaded meanwhile.
  setFile(file) {
    const url = URL.createObjectURL(file);
    this.show(url, file.name || "pasted image", "uploading…");
    this.revokeLater(url);
    const pending = upload(file).then((up) => {
      if (this.pending !== pending) return this.image; // replaced meanwhile
      this.image = { ref: { upload_id: up.upload_id }, width: up.width, height: up.height, name: file.name };
      this.pending = null;
      this.status.textContent = `${file.name || "pasted image"} · ${up.width}×${up.height}`;
      this.onChange(this);
      return this.image;
    }, (err) => {
      if (this.pending !== pending) return this.image;
      const refused = new ApiError(err.status, err.message, this.field, err.suggestions);
      this.clear();
      this.onError(refused);
      throw refused;
    });
    pending.catch(() => {}); // said by onError; a submit that waits on it hears it again
    this.pending = pending;
    this.image = null;
    this.onChange(this);
  }

  // An image of the history (a gallery item): referred to by its id, nothing uploaded.
  setHistory(item) {
    this.pending = null;
    this.show(fileUrl(item.id), item.prompt || item.path || item.id, "");
    this.revokeLater(null);
    this.image = { ref: { history_id: item.id }, width: item.width, height: item.height, name: item.path };
    this.status.textContent = `from the gallery · ${item.width}×${item.height}`;
    this.onChange(this);
  }

  show(url, name, status) {
    this.holder.classList.remove("invalid"); // an error said about the image before is about another one
    this.holder.querySelectorAll(".field-error").forEach((e) => e.remove());
    this.img.src = url;
    this.img.title = name;
    this.picked.hidden = false;
    this.empty.hidden = true;
    this.clearButton.hidden = false;
    this.status.textContent = status;
  }

  clear() {
    this.pending = null;
    this.image = null;
    this.img.removeAttribute("src");
    this.picked.hidden = true;
    this.empty.hidden = false;
    this.clearButton.hidden = true;
    this.status.textContent = "";
    this.revokeLater(null);
    this.onChange(this);
  }

  revokeLater(url) {
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = url;
  }

  // The image a request names, once its upload is done. An ApiError naming this slot's field when there is
  // none, or the upload was refused.
  async ref() {
    const image = this.pending ? await this.pending : this.image;
    if (!image) {
      throw new ApiError(0, "choose an image first: drop, paste or pick a file, or use one from the Gallery", this.field);
    }
    return image.ref;
  }
}

// The first image file a drop or paste carries.
export function imageFile(transfer) {
  return [...(transfer?.files || [])].find((f) => f.type.startsWith("image/")) || null;
}
