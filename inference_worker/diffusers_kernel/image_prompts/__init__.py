"""Image prompts: the control models (PyraCanny, CPDS) and the IP-Adapters (ImagePrompt, FaceSwap)."""
