"""hgate: a HIPAA data-path gateway for AI agents in CI.

The flow, one package per arrow: identity -> policy -> session plan -> credentials;
agent <- PTY <- stdin guard; agent -> line assembler -> masker -> CI log and transcript.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
