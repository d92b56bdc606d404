"""Writers of model files, not kernel code: the demo model, the small test pipelines, the shipped skeletons."""
