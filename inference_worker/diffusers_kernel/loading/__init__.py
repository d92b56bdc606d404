"""Opening models: single-file checkpoints and diffusers folders, their skeletons, LoRAs, the pipeline cache."""
