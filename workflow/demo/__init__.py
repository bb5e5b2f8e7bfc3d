"""``filiere demo``: the 2022 call's two phases, told by the engine on a simulated clock."""

from workflow.demo.phase1 import run_demo

__all__ = ["run_demo"]
