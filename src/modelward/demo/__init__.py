"""`mw demo`: the whole loop on a bundled dataset (`loop`), ending with a real server
that gets good, bad, normal and drifted traffic (`traffic`), and a team server left
running for the dashboard (`dashboard`)."""

from modelward.demo.loop import run_demo

__all__ = ["run_demo"]
