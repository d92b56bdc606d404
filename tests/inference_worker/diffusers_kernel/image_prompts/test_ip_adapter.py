"""IP-Adapter image prompts (ImagePrompt, FaceSwap) on the tiny SDXL, with tiny adapter and encoder files
in the layouts users have (ip_files.py).

What is checked comes from Fooocus 2.5 (modules/async_worker.py, extras/ip_adapter.py, modules/patch.py)
and from the IP-Adapter's attention (text attention + weight × attention over the image tokens):
- a prompt acts on a UNet call while 1 − t/999 < stop, t the timestep the UNet is given;
- the ip_negative file's tokens are the unconditional row's image tokens;
- the encoder reads the picture stretched to 224² (FaceSwap: its face crop, unless skip_preprocessor);
- weight 0 adds nothing; the added attention is linear in the weight;
- a missing or unfitting file is refused naming its field.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from contract.events import FailureKind
from inference_worker.diffusers_kernel.image_prompts import face_crop, image_encoder, ip_prompts
from inference_worker.kernel import KernelError
from tests.inference_worker.diffusers_kernel.fidelity_models import pixels, run
from tests.inference_worker.diffusers_kernel.image_input.image_files import image_file, noise_image, recording
from tests.inference_worker.diffusers_kernel.image_prompts.ip_files import cartoon_face, ip_files

PICTURE = noise_image(96, 64, seed=11)


@pytest.fixture(scope="module")
def files(tiny_models):
    return ip_files(tiny_models)


def _prompt(files, kind="ImagePrompt", picture=PICTURE, stop=0.5, weight=0.6, negative=False, model=None):
    adapter = model or (files.adapter if kind == "ImagePrompt" else files.face_adapter)
    prompt = {"type": kind, "image": image_file(picture), "stop": stop, "weight": weight,
              "model": {"name": "ip", "path": adapter},
              "image_encoder": {"name": "clip-vision", "path": files.encoder}}  # fmt: skip
    if negative:
        prompt["ip_negative"] = {"name": "negative", "path": files.negative}
    return prompt


class Layers:
    """Per UNet call: its timestep and, per adapter Linear watched, the batch rows of tokens it read."""

    def __init__(self, kernel, watched: dict[str, torch.nn.Module]) -> None:
        self.read: list[dict[str, torch.Tensor]] = []
        self._handles = [m.register_forward_hook(self._hook(name)) for name, m in watched.items()]

    def _hook(self, name):
        def hook(_module, args, _out):
            self.read[-1].setdefault(name, args[0].detach().clone())

        return hook

    def close(self):
        for h in self._handles:
            h.remove()


def _watch(kernel, task, make_calls):
    """Run `task` once to build its adapters, then again watching the first cross-attention layer's
    `to_k_ip` of every adapter; returns (UNet timesteps, per call {adapter file: tokens read})."""
    run(kernel, task)
    watched = {}
    for adapter in kernel.ip_adapters.loaded():
        first = next(iter(adapter.layers.values()))
        watched[adapter.name] = first[0]
    layers = Layers(kernel, watched)
    unet = kernel._models.base.pipe.unet
    pre = unet.register_forward_pre_hook(lambda *_: layers.read.append({}))
    try:
        with recording(kernel) as calls:
            make_calls()
    finally:
        pre.remove()
        layers.close()
    return calls.timesteps, layers.read


def test_weight_zero_is_no_prompt_and_a_weight_acts(kernel, make, files):
    plain = pixels(kernel, make())
    assert pixels(kernel, make(image_prompts=[_prompt(files, weight=0.0)])) == plain
    acted = pixels(kernel, make(image_prompts=[_prompt(files, weight=1.0, stop=1.0)]))
    assert acted != plain
    assert pixels(kernel, make()) == plain  # nothing of the adapter stays on the UNet


def test_each_prompt_acts_while_progress_is_below_its_stop(kernel, make, files):
    stops = {"tiny-ip-adapter-plus.bin": 0.35, "tiny-ip-adapter-face.safetensors": 0.8}
    task = make(steps=8, image_prompts=[_prompt(files, stop=0.35, weight=0.7),
                                        _prompt(files, "FaceSwap", stop=0.8, weight=0.9)])  # fmt: skip
    timesteps, read = _watch(kernel, task, lambda: run(kernel, task))
    assert len(timesteps) == 8 and len(read) == 8  # guidance 4: one batched call per step
    for t, seen in zip(timesteps, read, strict=True):
        progress = 1.0 - t / 999.0
        assert set(seen) == {name for name, stop in stops.items() if progress < stop}, (t, seen.keys())
    counts = [sum(name in seen for seen in read) for name in stops]
    assert 0 < counts[0] < counts[1] < 8  # both stops cut somewhere inside the run


def test_ip_negative_gives_the_unconditional_tokens(kernel, make, files):
    task = make(image_prompts=[_prompt(files, stop=1.0, negative=True)])
    _, read = _watch(kernel, task, lambda: run(kernel, task))
    from safetensors.torch import load_file

    negative = load_file(files.negative)["data"]
    tokens = read[0]["tiny-ip-adapter-plus.bin"]
    assert tokens.shape[0] == 2  # [conditional, unconditional] rows of one batched call
    torch.testing.assert_close(tokens[1:], negative, rtol=0, atol=0)
    assert not torch.equal(tokens[0:1], negative)
    # Without the file, the unconditional row is the projection of a blank encoder input: other tokens.
    task = make(image_prompts=[_prompt(files, stop=1.0)])
    _, read = _watch(kernel, task, lambda: run(kernel, task))
    assert not torch.equal(read[0]["tiny-ip-adapter-plus.bin"][1:], negative)


def test_added_attention_is_linear_in_the_weight(kernel, make, files):
    """One cross-attention layer, called directly: its output moves by weight × (the same vector)."""
    run(kernel, make(image_prompts=[_prompt(files, stop=1.0)]))
    ip = kernel._ip
    unet = kernel._models.base.pipe.unet
    name = next(iter(ip.adapters[0].layers))
    attn = unet.get_submodule(name[: -len(".processor")])
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(1, 16, attn.to_q.in_features, generator=gen)
    text = torch.randn(1, 5, unet.config.cross_attention_dim, generator=gen)
    outs = {}
    with ip.installed(unet), torch.no_grad():
        for weight in (0.0, 0.5, 1.0):
            ip.prompts[0].weight = weight
            with ip.acting([True], 500.0):  # progress 0.5 < stop 1
                outs[weight] = attn(hidden, encoder_hidden_states=text)
    delta_half, delta_one = outs[0.5] - outs[0.0], outs[1.0] - outs[0.0]
    assert delta_one.abs().max() > 1e-3
    torch.testing.assert_close(delta_one, 2 * delta_half, rtol=1e-4, atol=1e-6)


def _debug_picture(kernel, make, prompt, skip=False) -> np.ndarray:
    task = make(seeds=[1], image_prompts=[prompt], control={"debug_preprocessor": True, "skip_preprocessor": skip})
    notes: list = []
    result = run(kernel, task, notes)
    return np.asarray(Image.open(io.BytesIO(result.images[0].data)).convert("RGB")), result


def test_encoder_reads_the_picture_at_224(kernel, make, files):
    shown, _ = _debug_picture(kernel, make, _prompt(files))
    expected = np.asarray(Image.fromarray(PICTURE).resize((224, 224), Image.Resampling.LANCZOS))
    assert np.array_equal(shown, expected)


def test_face_swap_reads_the_face_crop_unless_skipped(kernel, make, files):
    face = cartoon_face(360, 150, 200)
    shown, _ = _debug_picture(kernel, make, _prompt(files, "FaceSwap", picture=face))
    crop = face_crop.face_crop(face)
    assert np.array_equal(shown, np.asarray(Image.fromarray(crop).resize((224, 224), Image.Resampling.LANCZOS)))
    skipped, _ = _debug_picture(kernel, make, _prompt(files, "FaceSwap", picture=face), skip=True)
    assert np.array_equal(skipped, np.asarray(Image.fromarray(face).resize((224, 224), Image.Resampling.LANCZOS)))


def test_face_swap_without_a_face_uses_the_whole_picture_and_says_so(kernel, make, files):
    shown, result = _debug_picture(kernel, make, _prompt(files, "FaceSwap"))
    assert np.array_equal(shown, np.asarray(Image.fromarray(PICTURE).resize((224, 224), Image.Resampling.LANCZOS)))
    assert any("image_prompts[0] (FaceSwap): no face found" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("part", "kind"),
    [("model", FailureKind.unknown_model), ("image_encoder", FailureKind.unknown_model),
     ("ip_negative", FailureKind.unknown_model)],
)  # fmt: skip
def test_a_missing_file_is_refused_naming_its_field(kernel, make, files, tmp_path, part, kind):
    prompt = _prompt(files, negative=True)
    prompt[part] = {"name": "gone", "path": str(tmp_path / "gone.safetensors")}
    with pytest.raises(KernelError) as exc:
        run(kernel, make(image_prompts=[_prompt(files, "FaceSwap"), prompt]))
    assert exc.value.field == f"image_prompts[1].{part}.path" and exc.value.kind == kind


def test_an_adapter_for_another_base_is_refused(kernel, make, files):
    with pytest.raises(KernelError) as exc:
        run(kernel, make(image_prompts=[_prompt(files, model=files.sd15_adapter)]))
    assert exc.value.field == "image_prompts[0].model" and "SDXL base" in exc.value.message


def test_encoder_file_rebuilds_the_model_it_was_saved_from(files):
    from safetensors import safe_open
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    with safe_open(files.encoder, framework="pt") as fh:
        config = json.loads(fh.metadata()[image_encoder.CONFIG_KEY])
    torch.manual_seed(3)  # the builder's seed: the same random weights
    reference = CLIPVisionModelWithProjection(CLIPVisionConfig(**config)).eval()
    loaded = image_encoder.load_encoder(files.encoder, "f", torch.float32, torch.device("cpu"))
    x = image_encoder.pixel_values(PICTURE)
    with torch.no_grad():
        want = reference(pixel_values=x, output_hidden_states=True).hidden_states[-2]
    torch.testing.assert_close(image_encoder.encode(loaded, x, penultimate=True), want, rtol=0, atol=0)


def test_vit_h_configuration_from_its_shapes():
    """The shapes of Fooocus's clip_vision_vit_h give its configuration (ldm_patched's clip_vision_config_h)."""
    p = image_encoder._PREFIX
    sd = {f"{p}embeddings.patch_embedding.weight": torch.empty(1280, 3, 14, 14),
          f"{p}embeddings.position_embedding.weight": torch.empty(257, 1280),
          f"{p}encoder.layers.0.mlp.fc1.weight": torch.empty(5120, 1280),
          "visual_projection.weight": torch.empty(1024, 1280)}  # fmt: skip
    sd |= {f"{p}encoder.layers.{i}.layer_norm1.weight": torch.empty(1280) for i in range(32)}
    c = image_encoder._config(sd, {}, "clip_vision_vit_h.safetensors", "f")
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size) == (1280, 32, 16, 5120)
    assert (c.patch_size, c.image_size, c.projection_dim, c.hidden_act) == (14, 224, 1024, "gelu")
    sd |= {f"{p}encoder.layers.{i}.layer_norm1.weight": torch.empty(1280) for i in range(32, 40)}
    with pytest.raises(KernelError, match="40-layer"):
        image_encoder._config(sd, {}, "odd.safetensors", "f")


def test_clip_normalisation():
    flat = np.full((50, 70, 3), (255, 128, 0), np.uint8)
    x = image_encoder.pixel_values(flat)
    assert x.shape == (1, 3, 224, 224)
    want = [(1.0 - 0.48145466) / 0.26862954, (128 / 255 - 0.4578275) / 0.26130258, (0.0 - 0.40821073) / 0.27577711]
    torch.testing.assert_close(x[0, :, 100, 100], torch.tensor(want), rtol=1e-5, atol=1e-5)


def test_declared_prompt_types(kernel):
    assert {"prompt.ImagePrompt", "prompt.FaceSwap"} <= kernel.image_methods()
    assert ip_prompts.METHODS == {"prompt.ImagePrompt", "prompt.FaceSwap"}
