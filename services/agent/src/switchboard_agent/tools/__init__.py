"""Tools the model can call: declared once, run automatically, never fatal to a call."""

from .registry import Tool, ToolContext, ToolRegistry, ToolResult

__all__ = ["Tool", "ToolContext", "ToolRegistry", "ToolResult"]
