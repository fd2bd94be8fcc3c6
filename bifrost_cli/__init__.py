"""bifrost-cli: files and batch jobs for LLM providers, directly or through a Bifrost gateway."""

__version__ = "0.1.0"
