"""Use cases: each change to a resource happens in exactly one function here, which fires its event.

Routes parse and serialise; these check visibility and rules, call the store and emit.
"""
