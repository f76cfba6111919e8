"""The signoff policy language: grammar, parser, AST, checker and formatter."""
from .errors import Diagnostic, PolicyError, render
from .parser import parse
from .printer import format_module, format_source, print_module
from .checker import Program, load

__all__ = ["Diagnostic", "PolicyError", "render", "parse", "format_module", "format_source",
           "print_module", "Program", "load"]
