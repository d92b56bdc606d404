"""The SDXL refiner's added conditioning: image size, crop and an aesthetic score, per prompt.

The refiner architecture (sd_xl_refiner) was trained with five time ids, [height, width, crop top,
crop left, aesthetic score], instead of the base's six (no target size). Fooocus leaves the score at
ComfyUI's defaults: 6 for the positive prompt, 2.5 for the negative, so guidance also pushes away from a
"less aesthetic" image. The size is the latent's size × 8 and the crop (0, 0); Fooocus's ADM scalers
apply to the SDXL base only.

`ModelPass` asks the size conditioning for each prompt's value (`positive` / `negative`) while the
timestep is above `scaled_until()`; here that value is the score, and it holds at every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from inference_worker.diffusers_kernel.sampling.denoiser import SizeConditioning

POSITIVE_SCORE = 6.0
NEGATIVE_SCORE = 2.5


@dataclass
class AestheticConditioning(SizeConditioning):
    positive: float = POSITIVE_SCORE
    negative: float = NEGATIVE_SCORE

    @classmethod
    def for_image(cls, width: int, height: int) -> AestheticConditioning:
        """The refiner's conditioning for an output of this size (the latent's size × 8, as Fooocus)."""
        return cls(width=width // 8 * 8, height=height // 8 * 8)

    def scaled_until(self) -> float:
        return -math.inf  # each prompt's score applies at every timestep

    def time_ids(self, scale: float | None) -> list[float]:
        return [float(self.height), float(self.width), 0.0, 0.0, float(scale)]
