"""Image inputs (Vary, Upscale, Inpaint/Outpaint): input pixels → start latent, known region → output image."""
