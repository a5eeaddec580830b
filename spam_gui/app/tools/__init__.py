"""Canvas tools: one module per interaction mode, each owning its mouse handling and undo steps.

A tool is a small object given a :class:`ToolContext` (the canvas, the collaborators and the
window's state it uses; napari's layer modes are the model): the window forwards canvas clicks
to the active tool and asks it whether it can be activated. A new
tool (paint, object editing) is one new module with a :class:`Tool` subclass, registered in
:data:`TOOLS`.
"""

from spam_gui.app.tools.base import Tool, ToolContext
from spam_gui.app.tools.edit_objects import OBJECT_TOOLS
from spam_gui.app.tools.inspect import InspectTool
from spam_gui.app.tools.paint import PaintTool
from spam_gui.app.tools.sam_prompt import SamPromptTool
from spam_gui.app.tools.scale import ScaleTool

TOOLS: tuple[type[Tool], ...] = (ScaleTool, SamPromptTool, InspectTool, PaintTool, *OBJECT_TOOLS)

__all__ = ["InspectTool", "PaintTool", "SamPromptTool", "ScaleTool", "TOOLS", "Tool", "ToolContext"]
