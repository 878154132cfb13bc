"""The specialist agents: each turns a model's structured reply into a typed result.

Public modules (imported explicitly, so importing the package stays cheap):
``analyst`` (findings on a prompt), ``creative`` (rewrites), ``validator`` (ballots),
``optimizer`` (prompt operators), ``evolution`` (the optimizer's evolution policy),
``free_choice`` (the free prompts judged on train and dev), ``failures`` (the target's
mistakes on training examples, and the dev/test leak check),
``router_agent`` (routing votes and answer judging), ``chat`` (answers with memory),
``actions`` (autopilot proposals), ``consensus`` (vote rules), ``prompts``
(prompt constants), ``quoting`` (outside text as judges see it), ``schemas``
(pydantic outputs).

Agents call models through ``neuroforge.models`` and read ``tools``, ``memory`` and
``knowledge``; they never import graphs or the shell.
"""

__all__ = [
    "actions", "analyst", "chat", "consensus", "creative", "evolution", "failures",
    "free_choice", "optimizer", "prompts", "quoting", "router_agent", "schemas", "validator",
]
