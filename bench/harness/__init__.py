"""What the benches and the tests both run the orchestrator with: its settings on a throwaway catalog
(`settings`), the app under uvicorn in the caller's event loop (`in_process`), `remgo serve` as a child
process (`orchestrator_process`), fast worker kernels and a protocol-breaking worker, and the on-disk audit."""
