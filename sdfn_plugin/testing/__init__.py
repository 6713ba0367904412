"""Helpers for the test-suite (importable by any package test)."""
from .dist import DistributedRunError, find_free_port, run_distributed

__all__ = ['DistributedRunError', 'find_free_port', 'run_distributed']
