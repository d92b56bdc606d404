"""The sampling loop: noise levels, the guided denoiser, Fooocus's samplers, the refiner hand-over."""
